"""What a dialog session and a running turn know of each other, and nothing more.

A turn starts from one `TurnStart` value (spoken or typed), tells its session only what `TurnSink` offers, and the
session drives it only through `Turn`. `dialog_worker/session.py` implements the sink, `dialog_worker/cx_turn.py`
the turn; neither imports the other.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from dialog_worker.pacing import AudioSink
from dialog_worker.turn_log import TurnLog


@dataclass(frozen=True, slots=True)
class Spoken:
    """A turn of speech: the pre-roll (audio just before the detected start) goes to the agent first."""

    preroll: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class Typed:
    """A turn of text (the client's `text_input`)."""

    text: str


TurnStart = Spoken | Typed


class TurnSink(AudioSink, Protocol):
    """What a turn may tell its session: events to send (`emit`, False once the turn may no longer speak), that
    its first audio went out, that the agent heard the end of the utterance, and that it is over. Its last event
    (`audio_end`, or an error that fails it: `shared.protocol.ends_turn`) goes through `emit` and ends it."""

    async def stream_ended(self, turn_id: int) -> None: ...

    async def turn_done(self, turn_id: int) -> None:
        """The turn's task is over; one that sent no last event (`audio_end`, or an error that fails it) fails."""


class Turn(Protocol):
    """What the session needs of a running turn (a Dialogflow exchange)."""

    def feed(self, pcm: bytes) -> None: ...

    def end_input(self) -> None: ...

    def cancel(self) -> None: ...

    async def wait(self, grace_s: float) -> None: ...


TurnFactory = Callable[[TurnSink, TurnLog, TurnStart], Turn]  # the log names the turn (docs/conversation_log.md)
