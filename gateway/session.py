"""Pure per-connection session state machine of the gateway (no I/O).

Before both workers have claimed the session, audio and controls are held (bounded) rather than dropped; once
claimed they are released in order and the client gets `session_start`. Every audio frame gets the next sequence
number, so workers know audio time (`seq * 20 ms`) without clocks.
"""

from dataclasses import dataclass
from enum import Enum

from shared import bus
from shared.protocol import Error, ServerEvent


class Phase(Enum):
    CLAIMING = "claiming"
    READY = "ready"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class PublishAudio:
    seq: int
    pcm: bytes


@dataclass(frozen=True, slots=True)
class PublishControl:
    message: bus.Control


@dataclass(frozen=True, slots=True)
class Reply:
    event: ServerEvent


Action = PublishAudio | PublishControl | Reply

MAX_HELD_CONTROLS = 16


class GatewaySession:
    def __init__(self, max_held_frames: int, next_seq: int = 0) -> None:
        self.phase = Phase.CLAIMING
        self.next_seq = next_seq
        self.max_held_frames = max_held_frames
        self._held: list[PublishAudio | PublishControl] = []
        self._held_frames = 0
        self._overflowed = False

    def audio(self, frames: list[bytes]) -> list[Action]:
        if self.phase is Phase.CLOSED:
            return []
        actions: list[Action] = []
        for pcm in frames:
            publish = PublishAudio(self.next_seq, pcm)
            self.next_seq += 1
            if self.phase is Phase.READY:
                actions.append(publish)
            elif self._held_frames < self.max_held_frames:
                self._held.append(publish)
                self._held_frames += 1
            elif not self._overflowed:
                self._overflowed = True
                actions.append(Reply(Error(code="rate_limited", message=self._overflow_message(), fatal=False)))
        return actions

    def control(self, message: bus.Control) -> list[Action]:
        if self.phase is Phase.READY:
            return [PublishControl(message)]
        if self.phase is Phase.CLAIMING and len(self._held) - self._held_frames < MAX_HELD_CONTROLS:
            self._held.append(PublishControl(message))
            return []
        return [Reply(Error(code="rate_limited", message="too many messages before session_start", fatal=False))]

    def claimed(self) -> list[Action]:
        """Both workers own the session: release what was held, in arrival order."""
        if self.phase is not Phase.CLAIMING:
            return []
        self.phase = Phase.READY
        held, self._held, self._held_frames = self._held, [], 0
        return list(held)

    def close(self) -> None:
        self.phase = Phase.CLOSED
        self._held = []

    def _overflow_message(self) -> str:
        held_ms = self.max_held_frames * 20
        return f"audio before session_start is held up to {held_ms} ms; later audio was dropped until ready"
