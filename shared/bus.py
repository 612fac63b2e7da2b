"""Internal bus schemas (NATS payloads between services). Unknown fields are accepted for rolling deploys.

Audio frames are binary: a 4-byte little-endian sequence number followed by 20 ms of 16 kHz mono LINEAR16.
Client-facing events travel on the bus already encoded as protocol v1 JSON, so the gateway relays them as they are.
"""

import struct

import msgspec

FRAME_HEADER = struct.Struct("<I")


class Claim(msgspec.Struct):
    """Gateway asks a worker to own a session (new, resumed, or recovered from a dead owner)."""

    session_id: str
    language: str = "en-US"
    resumed: bool = False
    last_turn_id: int = 0


class Claimed(msgspec.Struct):
    worker_id: str


class Heartbeat(msgspec.Struct):
    kind: str
    worker_id: str
    draining: bool = False


class Control(msgspec.Struct, tag_field="op"):
    """Base of the messages on a session's control subject."""


class ControlBargeIn(Control, tag="barge_in"):
    pass


class ControlStartSpeaking(Control, tag="start_speaking"):
    pass


class ControlStopSpeaking(Control, tag="stop_speaking"):
    pass


class ControlText(Control, tag="text_input"):
    text: str


class ControlEnd(Control, tag="end"):
    """The client ended the session: every owner releases it now."""


class ControlOwner(Control, tag="owner"):
    """A worker owns the session for `kind`; any other worker of that kind lets it go. The gateway repeats it
    periodically: it keeps idle sessions alive in their owners and heals an announcement lost in a NATS outage."""

    kind: str
    worker_id: str


AnyControl = ControlBargeIn | ControlStartSpeaking | ControlStopSpeaking | ControlText | ControlEnd | ControlOwner


class VadEvent(msgspec.Struct, tag_field="type"):
    """Base of raw voice-activity events from the VAD owner; `offset_ms` is audio time since session start."""

    offset_ms: int


class VadSpeechStarted(VadEvent, tag="speech_started"):
    pass


class VadSpeechEnded(VadEvent, tag="speech_ended"):
    pass


AnyVadEvent = VadSpeechStarted | VadSpeechEnded


class EventPeek(msgspec.Struct):
    """What the gateway reads of a relayed event: type, turn and error code (the rest is skipped, not decoded)."""

    type: str
    turn_id: int | None = None
    code: str | None = None


def pack_frame(seq: int, pcm: bytes) -> bytes:
    return FRAME_HEADER.pack(seq & 0xFFFFFFFF) + pcm


def unpack_frame(payload: bytes) -> tuple[int, bytes]:
    if len(payload) < FRAME_HEADER.size:
        raise ValueError("audio frame shorter than its header")
    (seq,) = FRAME_HEADER.unpack_from(payload)
    return seq, payload[FRAME_HEADER.size :]


claim_decoder = msgspec.json.Decoder(Claim)
claimed_decoder = msgspec.json.Decoder(Claimed)
heartbeat_decoder = msgspec.json.Decoder(Heartbeat)
control_decoder = msgspec.json.Decoder(AnyControl)
vad_decoder = msgspec.json.Decoder(AnyVadEvent)
peek_decoder = msgspec.json.Decoder(EventPeek)
encoder = msgspec.json.Encoder()
