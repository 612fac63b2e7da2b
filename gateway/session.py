"""Pure per-connection session state machine of the gateway (no I/O): everything the gateway publishes to the
workers or says to the client on its own goes through it.

Before both workers have claimed the session, audio and controls are held (bounded) rather than dropped; once
claimed they are released in order and the client gets `session_start`. The same happens while an owner moves
(crashed or draining, gateway/owners.py): a request typed meanwhile reaches the new owner. Every audio frame gets
the next sequence number, so workers know audio time (`shared.audio.frame_time_ms`) without clocks. The transition table
`TRANSITIONS` (phase x input -> next phase, what is done) is its documentation; an input the table does not list
for a phase is illegal and answered with `Rejected`, which the connection logs and counts, never dropped silently.

Guarantees (tests/unit/test_gateway_session.py walks the table and checks them with hypothesis): published frame
sequence numbers only grow; nothing reaches the workers before the claim but a lost turn's barge-in; what was held
is released in arrival order, bounded; nothing is published after close but the end of an ended session.
"""

from dataclasses import dataclass
from enum import Enum

from shared import bus
from shared.audio import FRAME_MS, frame_time_ms
from shared.protocol import Error, ServerEvent, TurnId


class Phase(Enum):
    CLAIMING = "claiming"  # waiting for both workers to own the session (at first, or while one moves)
    READY = "ready"
    CLOSED = "closed"


class Input(Enum):
    AUDIO = "audio"  # frames of client audio, already at 16 kHz
    CONTROL = "control"  # a client control (text, barge-in, start/stop speaking)
    CLAIMED = "claimed"  # both workers own the session
    MOVING = "moving"  # an owner is gone or draining: hold until the session is claimed again
    TURN_LOST = "turn_lost"  # the turn under way lost its worker or its events
    CLOSE = "close"  # the socket is done


class Do(Enum):
    HOLD = "hold"  # keep for the claim (bounded; beyond the bound the client is told once)
    PUBLISH = "publish"
    RELEASE = "release"  # publish what was held, in arrival order
    FAIL_TURN = "fail_turn"  # tell the client the turn failed; stop it wherever it still runs
    END = "end"  # drop what was held; tell the workers when the client ended the session
    SUSPEND = "suspend"  # hold from now on


TRANSITIONS: dict[Phase, dict[Input, tuple[Phase, Do]]] = {
    Phase.CLAIMING: {
        Input.AUDIO: (Phase.CLAIMING, Do.HOLD),
        Input.CONTROL: (Phase.CLAIMING, Do.HOLD),
        Input.CLAIMED: (Phase.READY, Do.RELEASE),
        Input.TURN_LOST: (Phase.CLAIMING, Do.FAIL_TURN),  # a re-claim may start before the first claim is done
        Input.MOVING: (Phase.CLAIMING, Do.SUSPEND),
        Input.CLOSE: (Phase.CLOSED, Do.END),
    },
    Phase.READY: {
        Input.AUDIO: (Phase.READY, Do.PUBLISH),
        Input.CONTROL: (Phase.READY, Do.PUBLISH),
        Input.TURN_LOST: (Phase.READY, Do.FAIL_TURN),
        Input.MOVING: (Phase.CLAIMING, Do.SUSPEND),
        Input.CLOSE: (Phase.CLOSED, Do.END),
    },
    Phase.CLOSED: {},
}


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


@dataclass(frozen=True, slots=True)
class Rejected:
    """An input that is illegal in the phase it came in: nothing was done with it."""

    phase: Phase
    input: Input


Action = PublishAudio | PublishControl | Reply | Rejected

MAX_HELD_CONTROLS = 16
TURN_LOST_MESSAGE = "this turn was lost (a worker or the message bus failed); please repeat the request"


class GatewaySession:
    def __init__(self, max_held_frames: int, next_seq: int = 0) -> None:
        self.phase = Phase.CLAIMING
        self.next_seq = next_seq
        self.max_held_frames = max_held_frames
        self._held: list[PublishAudio | PublishControl] = []
        self._held_frames = 0
        self._overflowed = False

    @classmethod
    def holding(cls, pre_ready_audio_ms: int) -> "GatewaySession":
        """A session that holds up to `pre_ready_audio_ms` of audio before the claim."""
        return cls(max_held_frames=pre_ready_audio_ms // FRAME_MS)

    def audio(self, frames: list[bytes]) -> list[Action]:
        do = self._step(Input.AUDIO)
        if do is None:
            return [Rejected(self.phase, Input.AUDIO)]
        actions: list[Action] = []
        for pcm in frames:
            publish = PublishAudio(self.next_seq, pcm)
            self.next_seq += 1
            if do is Do.PUBLISH:
                actions.append(publish)
            elif self._held_frames < self.max_held_frames:
                self._held.append(publish)
                self._held_frames += 1
            elif not self._overflowed:
                self._overflowed = True
                actions.append(Reply(Error(code="rate_limited", message=self._overflow_message(), fatal=False)))
        return actions

    def control(self, message: bus.Control) -> list[Action]:
        do = self._step(Input.CONTROL)
        if do is None:
            return [Rejected(self.phase, Input.CONTROL)]
        if do is Do.PUBLISH:
            return [PublishControl(message)]
        if len(self._held) - self._held_frames < MAX_HELD_CONTROLS:
            self._held.append(PublishControl(message))
            return []
        return [Reply(Error(code="rate_limited", message="too many messages before session_start", fatal=False))]

    def claimed(self) -> list[Action]:
        """Both workers own the session: release what was held, in arrival order."""
        if self._step(Input.CLAIMED) is None:
            return [Rejected(self.phase, Input.CLAIMED)]
        held, self._held, self._held_frames = self._held, [], 0
        return list(held)

    def moving(self) -> list[Action]:
        """An owner is moving: hold audio and controls (bounded) until `claimed`; the client is told again once
        if the hold overflows."""
        if self._step(Input.MOVING) is None:
            return [Rejected(self.phase, Input.MOVING)]
        self._overflowed = False
        return []

    def turn_lost(self, turn_id: TurnId) -> list[Action]:
        """Turn `turn_id` lost its worker or its events: the client is asked to repeat it, and it is stopped
        wherever it may still run (published at once, even before the claim: it must not wait behind held input)."""
        if self._step(Input.TURN_LOST) is None:
            return [Rejected(self.phase, Input.TURN_LOST)]
        failed = Error(code="turn_failed", message=TURN_LOST_MESSAGE, fatal=False, turn_id=turn_id)
        return [Reply(failed), PublishControl(bus.ControlTurnLost(turn_id=turn_id))]

    def close(self, ended: bool) -> list[Action]:
        """The socket is done; `ended`: the client ended the session (`end_session`), so the workers are told."""
        if self._step(Input.CLOSE) is None:
            return [Rejected(self.phase, Input.CLOSE)]
        self._held, self._held_frames = [], 0
        return [PublishControl(bus.ControlEnd())] if ended else []

    def _step(self, given: Input) -> Do | None:
        step = TRANSITIONS[self.phase].get(given)
        if step is None:
            return None
        self.phase, do = step
        return do

    def _overflow_message(self) -> str:
        held_ms = frame_time_ms(self.max_held_frames)
        return f"audio is held up to {held_ms} ms until the session's workers own it; later audio was dropped"
