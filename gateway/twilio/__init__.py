"""Twilio Media Streams: the phone edge of the gateway (docs/telephony.md)."""
