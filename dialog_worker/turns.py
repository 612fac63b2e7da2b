"""Pure turn and barge-in state machine of one session (no asyncio, no I/O; time passed in, in seconds).

Inputs are speech events (from the VAD or the client), client controls, and progress reports of the running turn;
outputs are actions for the adapter: events to send, Dialogflow streams to open, end or cancel. A turn's events may
be sent only while `accepts(turn_id)` holds: once `interrupted{n}` is emitted, turn n never speaks again.
"""

from dataclasses import dataclass
from enum import Enum

from shared.protocol import Interrupted, ServerEvent, SpeechEnded, SpeechStarted


class Phase(Enum):
    IDLE = "idle"
    LISTENING = "listening"  # user speaking, audio streaming to the agent
    THINKING = "thinking"  # user done, waiting for the agent (and tools)
    SPEAKING = "speaking"  # bot audio going out


@dataclass(frozen=True, slots=True)
class Emit:
    event: ServerEvent


@dataclass(frozen=True, slots=True)
class OpenStream:
    turn_id: int


@dataclass(frozen=True, slots=True)
class EndStream:
    turn_id: int


@dataclass(frozen=True, slots=True)
class StartText:
    turn_id: int
    text: str


@dataclass(frozen=True, slots=True)
class Cancel:
    turn_id: int


Action = Emit | OpenStream | EndStream | StartText | Cancel


class TurnMachine:
    """Tracks the current turn; `echo_guard_s` ignores speech that starts right after bot audio starts."""

    def __init__(self, last_turn_id: int = 0, echo_guard_s: float = 0.3) -> None:
        self.turn_id = last_turn_id
        self.phase = Phase.IDLE
        self.echo_guard_s = echo_guard_s
        self._bot_audio_since: float | None = None
        self._held_speech: int | None = None  # offset of speech heard inside the echo guard, still going on

    def accepts(self, turn_id: int) -> bool:
        return turn_id == self.turn_id and self.phase is not Phase.IDLE

    def speech_started(self, offset_ms: int, now: float) -> list[Action]:
        if self.phase is Phase.LISTENING:
            return []
        if self.phase is Phase.SPEAKING and self._in_echo_guard(now):
            self._held_speech = offset_ms
            return []
        return [*self._interrupt(), *self._open(offset_ms)]

    def speech_ended(self, offset_ms: int) -> list[Action]:
        self._held_speech = None
        if self.phase is not Phase.LISTENING:
            return []
        self.phase = Phase.THINKING
        return [Emit(SpeechEnded(turn_id=self.turn_id, offset_ms=offset_ms)), EndStream(self.turn_id)]

    def stream_ended(self, turn_id: int, offset_ms: int) -> list[Action]:
        """The agent detected the end of the utterance before the VAD did."""
        if turn_id != self.turn_id:
            return []
        return self.speech_ended(offset_ms)

    def barge_in(self) -> list[Action]:
        self._held_speech = None
        if self.phase in (Phase.THINKING, Phase.SPEAKING):
            return self._interrupt()
        return []

    def text_input(self, text: str) -> list[Action]:
        self._held_speech = None
        actions = self._interrupt()
        self.turn_id += 1
        self.phase = Phase.THINKING
        return [*actions, StartText(self.turn_id, text)]

    def tick(self, now: float) -> list[Action]:
        """Called as audio flows: speech held back by the echo guard becomes a barge-in once the guard is over."""
        if self._held_speech is None or self._in_echo_guard(now):
            return []
        offset, self._held_speech = self._held_speech, None
        if self.phase is not Phase.SPEAKING:
            return []
        return [*self._interrupt(), *self._open(offset)]

    def bot_audio_started(self, turn_id: int, now: float) -> None:
        if turn_id == self.turn_id and self.phase is Phase.THINKING:
            self.phase = Phase.SPEAKING
            self._bot_audio_since = now

    def turn_done(self, turn_id: int) -> None:
        if turn_id == self.turn_id and self.phase in (Phase.THINKING, Phase.SPEAKING):
            self.phase = Phase.IDLE
            self._bot_audio_since = None

    def _in_echo_guard(self, now: float) -> bool:
        since = self._bot_audio_since
        return since is not None and now - since < self.echo_guard_s

    def _interrupt(self) -> list[Action]:
        if self.phase is Phase.IDLE:
            return []
        self.phase = Phase.IDLE
        self._bot_audio_since = None
        return [Cancel(self.turn_id), Emit(Interrupted(turn_id=self.turn_id))]

    def _open(self, offset_ms: int) -> list[Action]:
        self.turn_id += 1
        self.phase = Phase.LISTENING
        return [Emit(SpeechStarted(turn_id=self.turn_id, offset_ms=offset_ms)), OpenStream(self.turn_id)]
