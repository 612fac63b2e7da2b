"""Client protocol v1 (docs/protocol.md): one tagged msgspec union per direction, strict at the client boundary.

Decoders and the encoder are built once, here; services import them instead of building their own.
"""

import struct
from typing import Annotated, Any, Literal, NamedTuple

import msgspec

PROTOCOL_VERSION = 1

# How the server sends response audio (query `audio_out`): JSON `audio_response` events (the default) or binary
# frames of AUDIO_FRAME_HEADER (turn_id, seq, sample_rate: uint32 little-endian) followed by PCM16LE mono.
AudioOut = Literal["json", "binary"]
AUDIO_OUT_MODES: tuple[AudioOut, ...] = ("json", "binary")
AUDIO_FRAME_HEADER = struct.Struct("<III")

ErrorCode = Literal[
    "invalid_message",
    "unsupported_audio",
    "message_too_large",
    "rate_limited",
    "unauthorized",
    "session_not_found",
    "session_replaced",
    "dialog_unavailable",
    "turn_failed",
    "tool_failed",
    "overloaded",
    "internal",
]

TurnId = Annotated[int, msgspec.Meta(ge=0)]


class ClientMessage(msgspec.Struct, tag_field="type", forbid_unknown_fields=True):
    """Base of every client-to-server message: unknown fields are an error."""


class AudioChunk(ClientMessage, tag="audio_chunk"):
    data: str


class StartSpeaking(ClientMessage, tag="start_speaking"):
    pass


class StopSpeaking(ClientMessage, tag="stop_speaking"):
    pass


class BargeIn(ClientMessage, tag="barge_in"):
    pass


class TextInput(ClientMessage, tag="text_input"):
    text: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]


class Ping(ClientMessage, tag="ping"):
    pass


class EndSession(ClientMessage, tag="end_session"):
    pass


AnyClientMessage = AudioChunk | StartSpeaking | StopSpeaking | BargeIn | TextInput | Ping | EndSession


class ServerEvent(msgspec.Struct, tag_field="type"):
    """Base of every server-to-client event."""


class SessionStart(ServerEvent, tag="session_start"):
    session_id: str
    resume_token: str
    sample_rate: int
    language: str
    resumed: bool
    resume_expires_in_s: int = 0
    protocol: int = PROTOCOL_VERSION
    audio_out: AudioOut = "json"


class ResumeToken(ServerEvent, tag="resume_token"):
    """A fresh resume token, sent before the previous one expires; it replaces it."""

    resume_token: str
    resume_expires_in_s: int


class SpeechStarted(ServerEvent, tag="speech_started"):
    turn_id: TurnId
    offset_ms: int


class SpeechEnded(ServerEvent, tag="speech_ended"):
    turn_id: TurnId
    offset_ms: int


class Transcript(ServerEvent, tag="transcript"):
    turn_id: TurnId
    text: str
    is_final: bool


class Intent(ServerEvent, tag="intent"):
    turn_id: TurnId
    name: str
    confidence: float
    parameters: dict[str, Any] = {}


class ToolResult(ServerEvent, tag="tool_result"):
    turn_id: TurnId
    tool: str
    output: dict[str, Any]


class ResponseText(ServerEvent, tag="response_text"):
    turn_id: TurnId
    text: str


class AudioResponse(ServerEvent, tag="audio_response"):
    turn_id: TurnId
    seq: int
    data: str
    sample_rate: int


class AudioEnd(ServerEvent, tag="audio_end"):
    turn_id: TurnId


class Interrupted(ServerEvent, tag="interrupted"):
    turn_id: TurnId


class Paused(ServerEvent, tag="paused"):
    """Speech over the answer: stop playing turn n, keep its queued audio (docs/protocol.md)."""

    turn_id: TurnId


class Resumed(ServerEvent, tag="resumed"):
    """The speech was not an interruption: play turn n on from where it was paused."""

    turn_id: TurnId


class Error(ServerEvent, tag="error", omit_defaults=True):
    code: ErrorCode
    message: str
    fatal: bool
    turn_id: TurnId | None = None
    retry_after_ms: Annotated[int, msgspec.Meta(ge=0)] | None = None  # a retryable refusal: try again after this


class Pong(ServerEvent, tag="pong"):
    pass


AnyServerEvent = (
    SessionStart
    | ResumeToken
    | SpeechStarted
    | SpeechEnded
    | Transcript
    | Intent
    | ToolResult
    | ResponseText
    | AudioResponse
    | AudioEnd
    | Interrupted
    | Paused
    | Resumed
    | Error
    | Pong
)

# The one rule of when a turn is over: its answer's audio ended, it was interrupted, or an error failed it.
# Any other event (including ones added later) does not end a turn.
TURN_END_EVENTS = frozenset({"audio_end", "interrupted"})
TURN_FAILING_ERRORS = frozenset({"turn_failed", "dialog_unavailable"})


def ends_turn(kind: str, code: str | None = None) -> bool:
    """Whether a server event of type `kind` (with error `code`, for an `error`) is the last event of its turn."""
    return kind in TURN_END_EVENTS or (kind == "error" and code in TURN_FAILING_ERRORS)


def event_type(event: ServerEvent) -> str:
    """The `type` tag of a server event."""
    tag = type(event).__struct_config__.tag
    assert isinstance(tag, str), "every server event class has a string tag"
    return tag


def event_ends_turn(event: ServerEvent) -> bool:
    """`ends_turn` for a decoded server event."""
    return ends_turn(event_type(event), event.code if isinstance(event, Error) else None)


class AudioFrame(NamedTuple):
    """A binary response audio frame (`audio_out=binary`): the fields of an `audio_response`, PCM not base64."""

    turn_id: int
    seq: int
    sample_rate: int
    pcm: bytes


def unpack_audio_frame(frame: bytes) -> AudioFrame:
    """Read a binary response audio frame; ValueError when it is shorter than its header or has an odd length."""
    size = AUDIO_FRAME_HEADER.size
    if len(frame) < size or (len(frame) - size) % 2:
        raise ValueError(f"a binary audio frame is a {size}-byte header and PCM16 samples, got {len(frame)} bytes")
    turn_id, seq, sample_rate = AUDIO_FRAME_HEADER.unpack_from(frame)
    return AudioFrame(turn_id, seq, sample_rate, frame[size:])


client_decoder = msgspec.json.Decoder(AnyClientMessage)
server_decoder = msgspec.json.Decoder(AnyServerEvent)
encoder = msgspec.json.Encoder()
