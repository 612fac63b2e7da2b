"""The terminal client's view of a turn, as a pure state machine: when it is over, how, and when to barge in."""

import base64
import enum
import json

import msgspec

from shared.protocol import (
    AnyServerEvent,
    AudioResponse,
    Error,
    Interrupted,
    SpeechEnded,
    SpeechStarted,
    event_ends_turn,
)


class Outcome(enum.Enum):
    COMPLETED = "completed"  # the answer's audio ended (`audio_end`)
    INTERRUPTED = "interrupted"  # our barge-in was honoured (`interrupted`)
    ERROR = "error"  # the server sent an `error` event
    NO_BARGE_IN = "no_barge_in"  # the answer ended before the requested barge-in was due


class TurnWatch:
    """Feed it every server event with the current time; it says when the turn is over and when to barge in."""

    def __init__(self, barge_in_after_ms: int | None) -> None:
        self.barge_in_after_s = None if barge_in_after_ms is None else barge_in_after_ms / 1000
        self.barge_in_due: float | None = None
        self.barged_in = False
        self.speaking = False

    def feed(self, event: AnyServerEvent, now: float) -> Outcome | None:
        match event:
            case Error():
                return Outcome.ERROR  # any error answers our one request, whether or not it ends the turn
            case SpeechStarted():
                self.speaking = True
            case SpeechEnded():
                self.speaking = False
            case AudioResponse() if self.barge_in_after_s is not None and self.barge_in_due is None:
                self.barge_in_due = now + self.barge_in_after_s
        if not event_ends_turn(event):
            return None
        if isinstance(event, Interrupted):
            return Outcome.INTERRUPTED if self.barged_in else None
        return Outcome.NO_BARGE_IN if self.barge_in_after_s is not None and not self.barged_in else Outcome.COMPLETED

    def wake_at(self, deadline: float) -> float:
        """When the caller must look again: the barge-in time if one is pending, else `deadline`."""
        if self.barged_in or self.barge_in_due is None:
            return deadline
        return min(deadline, self.barge_in_due)

    def barge_in_now(self, now: float) -> bool:
        """True once, when the barge-in is due: the caller then sends `barge_in`."""
        if self.barged_in or self.barge_in_due is None or now < self.barge_in_due:
            return False
        self.barged_in = True
        return True


def describe(event: AnyServerEvent) -> str:
    """One line per event: its type, then its fields as JSON; audio is summarised, never dumped, and resume
    tokens (credentials) are never printed."""
    fields = msgspec.to_builtins(event)
    kind = fields.pop("type")
    if "resume_token" in fields:
        fields["resume_token"] = "<redacted>"
    if isinstance(event, AudioResponse):
        fields["data"] = f"<{len(base64.b64decode(event.data)) // 2} samples>"
    return f"{kind} {json.dumps(fields, ensure_ascii=False)}"
