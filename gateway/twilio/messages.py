"""Twilio Media Streams WebSocket messages (bidirectional `<Connect><Stream>`), as docs/telephony.md quotes them.

One tagged msgspec union per direction, the tag in `event`. Field names are Twilio's camelCase (`rename="camel"`).
Inbound structs accept unknown fields (Twilio adds fields over time); the fields the gateway relies on are
required and typed, so a malformed message fails to decode.
"""

from typing import Annotated

import msgspec


class _Twilio(msgspec.Struct, tag_field="event", rename="camel"):
    """Base of every message Twilio sends."""


class Connected(_Twilio, tag="connected"):
    protocol: str
    version: str


class MediaFormat(msgspec.Struct, rename="camel"):
    encoding: str
    sample_rate: int
    channels: int


class StartInfo(msgspec.Struct, rename="camel"):
    stream_sid: str
    account_sid: str
    call_sid: str
    media_format: MediaFormat
    tracks: list[str] = []
    custom_parameters: dict[str, str] = {}


class Start(_Twilio, tag="start"):
    start: StartInfo
    stream_sid: str
    sequence_number: str = ""


class MediaInfo(msgspec.Struct, rename="camel"):
    payload: str
    track: str = "inbound"
    chunk: str = ""
    timestamp: str = ""


class Media(_Twilio, tag="media"):
    media: MediaInfo
    stream_sid: str
    sequence_number: str = ""


class DtmfInfo(msgspec.Struct, rename="camel"):
    digit: Annotated[str, msgspec.Meta(min_length=1, max_length=1)]
    track: str = "inbound_track"


class Dtmf(_Twilio, tag="dtmf"):
    dtmf: DtmfInfo
    stream_sid: str
    sequence_number: str = ""


class MarkInfo(msgspec.Struct):
    name: str


class Mark(_Twilio, tag="mark"):
    mark: MarkInfo
    stream_sid: str
    sequence_number: str = ""


class StopInfo(msgspec.Struct, rename="camel"):
    account_sid: str
    call_sid: str


class Stop(_Twilio, tag="stop"):
    stop: StopInfo
    stream_sid: str
    sequence_number: str = ""


AnyInbound = Connected | Start | Media | Dtmf | Mark | Stop


class _ToTwilio(msgspec.Struct, tag_field="event", rename="camel"):
    """Base of every message the gateway sends to Twilio."""


class OutMediaInfo(msgspec.Struct):
    payload: str


class OutMedia(_ToTwilio, tag="media"):
    stream_sid: str
    media: OutMediaInfo


class OutMark(_ToTwilio, tag="mark"):
    stream_sid: str
    mark: MarkInfo


class Clear(_ToTwilio, tag="clear"):
    stream_sid: str


AnyOutbound = OutMedia | OutMark | Clear

inbound_decoder = msgspec.json.Decoder(AnyInbound)
encoder = msgspec.json.Encoder()

SUPPORTED_FORMAT = MediaFormat(encoding="audio/x-mulaw", sample_rate=8000, channels=1)
