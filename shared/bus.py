"""Internal bus schemas (NATS payloads between services). Unknown fields are accepted for rolling deploys.

Audio frames are binary: a header, then 20 ms of 16 kHz mono LINEAR16. The header is three little-endian u32:
the sequence number with its top bit set (marking a stamped frame), the VAD epoch and the dialog epoch it was
sent under (shared/epochs.py). A frame from before fencing has only the 4-byte sequence number (top bit clear).
A turn-audio message may carry several consecutive frames (a chunk: `pack_chunk`): the first frame's header, then
the PCM of all of them; `frames_of` cuts it back into 20 ms frames.
Client-facing events travel on the bus already encoded as protocol v1 JSON, so the gateway relays them as they are.

Every message of a session carries the ownership epoch it was sent under (0: not stamped, accepted as current):
claims the epoch the worker takes, controls the dialog epoch (an owner announcement: its kind's), VAD events the
VAD epoch.
"""

import struct
from collections.abc import Iterator, Sequence

import msgspec

from shared.audio import FRAME_BYTES

FRAME_HEADER = struct.Struct("<I")
STAMPED_HEADER = struct.Struct("<III")
_STAMPED = 0x80000000
_SEQ_MASK = 0x7FFFFFFF
_WHOLE_FRAME = STAMPED_HEADER.size + FRAME_BYTES


class Claim(msgspec.Struct):
    """Gateway asks a worker to own a session (new, resumed, or recovered from a dead owner)."""

    session_id: str
    language: str = "en-US"
    resumed: bool = False
    last_turn_id: int = 0
    epoch: int = 0  # the ownership epoch the worker takes the session under
    audio_seq: int = 0  # the session's next audio frame (audio time continues from here)


class Claimed(msgspec.Struct):
    worker_id: str


class Control(msgspec.Struct, tag_field="op", kw_only=True):
    """Base of the messages on a session's control subject; `epoch`: the dialog epoch it was sent under."""

    epoch: int = 0


class ControlBargeIn(Control, tag="barge_in"):
    pass


class ControlStartSpeaking(Control, tag="start_speaking"):
    pass


class ControlStopSpeaking(Control, tag="stop_speaking"):
    pass


class ControlText(Control, tag="text_input"):
    """A typed request; `turn_id`: the turn the gateway expects it to be (the worker numbers it at least that, so
    a turn the gateway already failed is never reused even when the worker never heard of it; 0: no expectation)."""

    text: str
    turn_id: int = 0


class ControlEnd(Control, tag="end"):
    """The client ended the session: every owner releases it now."""


class ControlTurnTaken(Control, tag="turn_taken"):
    """The gateway relays turn `turn_id` from the session's draining dialog owner (a barge-in it confirmed before it
    learned of the move): the new owner numbers its next turn past it."""

    turn_id: int


class ControlTurnLost(Control, tag="turn_lost"):
    """The gateway told the client turn `turn_id` failed: stop it if it runs, number the next turn past it."""

    turn_id: int


class ControlOwner(Control, tag="owner"):
    """A worker owns the session for `kind` from `epoch` (that kind's) on; any other worker of that kind lets it
    go. The gateway repeats it periodically: it keeps idle sessions alive in their owners and heals an announcement
    lost in a NATS outage."""

    kind: str
    worker_id: str


AnyControl = (
    ControlBargeIn
    | ControlStartSpeaking
    | ControlStopSpeaking
    | ControlText
    | ControlEnd
    | ControlTurnLost
    | ControlTurnTaken
    | ControlOwner
)


class VadEvent(msgspec.Struct, tag_field="type"):
    """Base of raw voice-activity events from the VAD owner; `offset_ms` is audio time since session start,
    `epoch` the VAD epoch it was sent under. With turn audio on (`VOICECHAT_TURN_AUDIO`), `utterance` numbers the
    turn audio the VAD forwards from this speech start (0: none), and `client` marks the client's own
    `start_speaking` / `stop_speaking`, relayed by the VAD so they reach the dialog in order with that audio."""

    offset_ms: int
    epoch: int = 0
    utterance: int = 0
    client: bool = False


class VadSpeechStarted(VadEvent, tag="speech_started"):
    pass


class VadSpeechEnded(VadEvent, tag="speech_ended"):
    pass


AnyVadEvent = VadSpeechStarted | VadSpeechEnded


class TurnAudioClosed(msgspec.Struct):
    """The dialog owner needs no more of `utterance`'s turn audio; `epoch`: the dialog epoch it was sent under."""

    utterance: int
    epoch: int = 0


class EventPeek(msgspec.Struct):
    """What the gateway reads of a relayed event: type, turn and error code (the rest is skipped, not decoded)."""

    type: str
    turn_id: int | None = None
    code: str | None = None


def pack_frame(seq: int, pcm: bytes, vad_epoch: int = 0, dialog_epoch: int = 0) -> bytes:
    return STAMPED_HEADER.pack((seq & _SEQ_MASK) | _STAMPED, vad_epoch, dialog_epoch) + pcm


def unpack_frame(payload: bytes) -> tuple[int, tuple[int, int], bytes]:
    """(sequence number, (VAD epoch, dialog epoch), PCM); epochs are 0 in a frame from before fencing."""
    if len(payload) < FRAME_HEADER.size:
        raise ValueError("audio frame shorter than its header")
    (seq,) = FRAME_HEADER.unpack_from(payload)
    if not seq & _STAMPED:
        return seq, (0, 0), payload[FRAME_HEADER.size :]
    if len(payload) < STAMPED_HEADER.size:
        raise ValueError("audio frame shorter than its header")
    _, vad_epoch, dialog_epoch = STAMPED_HEADER.unpack_from(payload)
    return seq & _SEQ_MASK, (vad_epoch, dialog_epoch), payload[STAMPED_HEADER.size :]


def chunks_with(previous: bytes, frame: bytes) -> bool:
    """Whether `frame` may follow `previous` in one chunk: both whole stamped frames, `frame` the next sequence
    number under the same epochs."""
    if len(previous) != _WHOLE_FRAME or len(frame) != _WHOLE_FRAME:
        return False
    seq, vad_epoch, dialog_epoch = STAMPED_HEADER.unpack_from(previous)
    return bool(seq & _STAMPED) and STAMPED_HEADER.unpack_from(frame) == (seq + 1, vad_epoch, dialog_epoch)


def pack_chunk(frames: Sequence[bytes]) -> bytes:
    """One message of frames that chunk with each other (`chunks_with`): the first one's header, then all the PCM."""
    return b"".join([frames[0], *(memoryview(frame)[STAMPED_HEADER.size :] for frame in frames[1:])])


def frames_of(seq: int, pcm: bytes) -> Iterator[tuple[int, bytes]]:
    """The 20 ms frames of a message's PCM (`unpack_frame`) with their sequence numbers: one, or those of a chunk."""
    if len(pcm) <= FRAME_BYTES:
        yield seq, pcm
        return
    for offset in range(0, len(pcm), FRAME_BYTES):
        yield seq, pcm[offset : offset + FRAME_BYTES]
        seq += 1


claim_decoder = msgspec.json.Decoder(Claim)
claimed_decoder = msgspec.json.Decoder(Claimed)
control_decoder = msgspec.json.Decoder(AnyControl)
vad_decoder = msgspec.json.Decoder(AnyVadEvent)
peek_decoder = msgspec.json.Decoder(EventPeek)
turn_audio_closed_decoder = msgspec.json.Decoder(TurnAudioClosed)
encoder = msgspec.json.Encoder()
