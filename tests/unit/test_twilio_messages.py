"""Twilio Media Streams messages: the documented examples decode, outbound messages encode as documented."""

import json
from collections.abc import Mapping
from typing import Any

import msgspec
import pytest

from gateway.twilio import messages as twilio

# The examples on Twilio's "Media Streams - WebSocket Messages" page (ids shortened), as docs/telephony.md quotes.
CONNECTED: dict[str, Any] = {"event": "connected", "protocol": "Call", "version": "1.0.0"}
START: dict[str, Any] = {
    "event": "start",
    "sequenceNumber": "1",
    "start": {
        "accountSid": "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
        "streamSid": "MZXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
        "callSid": "CAXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
        "tracks": ["inbound", "outbound"],
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        "customParameters": {"FirstName": "Jane", "LastName": "Doe"},
    },
    "streamSid": "MZXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
}
MEDIA: dict[str, Any] = {
    "event": "media",
    "sequenceNumber": "3",
    "media": {"track": "outbound", "chunk": "1", "timestamp": "5", "payload": "no+JhoaJjpzSHxAKBgYJDhtEopGKh4aIjZm7"},
    "streamSid": "MZXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
}
DTMF: dict[str, Any] = {
    "event": "dtmf",
    "streamSid": "MZXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
    "sequenceNumber": "5",
    "dtmf": {"track": "inbound_track", "digit": "1"},
}
MARK: dict[str, Any] = {
    "event": "mark",
    "sequenceNumber": "4",
    "streamSid": "MZXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
    "mark": {"name": "my label"},
}
STOP: dict[str, Any] = {
    "event": "stop",
    "sequenceNumber": "5",
    "streamSid": "MZXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
    "stop": {"accountSid": "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX", "callSid": "CAXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"},
}


def decode(message: Mapping[str, Any]) -> twilio.AnyInbound:
    decoded: twilio.AnyInbound = twilio.inbound_decoder.decode(json.dumps(message))
    return decoded


def test_documented_inbound_messages_decode() -> None:
    assert decode(CONNECTED) == twilio.Connected(protocol="Call", version="1.0.0")
    start = decode(START)
    assert isinstance(start, twilio.Start)
    assert start.start.media_format == twilio.SUPPORTED_FORMAT
    assert start.start.custom_parameters == {"FirstName": "Jane", "LastName": "Doe"}
    assert start.start.call_sid.startswith("CA") and start.stream_sid.startswith("MZ")
    media = decode(MEDIA)
    assert isinstance(media, twilio.Media) and media.media.chunk == "1" and media.media.timestamp == "5"
    dtmf = decode(DTMF)
    assert isinstance(dtmf, twilio.Dtmf) and dtmf.dtmf.digit == "1"
    mark = decode(MARK)
    assert isinstance(mark, twilio.Mark) and mark.mark.name == "my label"
    stop = decode(STOP)
    assert isinstance(stop, twilio.Stop) and stop.stop.call_sid.startswith("CA")


def test_unknown_fields_are_accepted_missing_ones_are_not() -> None:
    assert isinstance(decode({**MARK, "added_later": 1}), twilio.Mark)
    with pytest.raises(msgspec.ValidationError):
        decode({"event": "media", "streamSid": "MZ1", "media": {"track": "inbound"}})
    with pytest.raises(msgspec.ValidationError):
        decode({"event": "hangup", "streamSid": "MZ1"})
    with pytest.raises(msgspec.ValidationError):
        decode({**DTMF, "dtmf": {"digit": "12"}})


def test_outbound_messages_are_as_documented() -> None:
    sid = "MZXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
    media = twilio.OutMedia(stream_sid=sid, media=twilio.OutMediaInfo(payload="fw=="))
    expected = {"event": "media", "streamSid": sid, "media": {"payload": "fw=="}}
    assert json.loads(twilio.encoder.encode(media)) == expected
    mark = twilio.OutMark(stream_sid=sid, mark=twilio.MarkInfo(name="my label"))
    assert json.loads(twilio.encoder.encode(mark)) == {"event": "mark", "streamSid": sid, "mark": {"name": "my label"}}
    assert json.loads(twilio.encoder.encode(twilio.Clear(stream_sid=sid))) == {"event": "clear", "streamSid": sid}
