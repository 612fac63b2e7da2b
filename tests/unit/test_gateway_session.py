"""The gateway's per-connection session state machine: its transition table, walked, and its guarantees, checked
by a hypothesis state machine."""

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from gateway.session import (
    MAX_HELD_CONTROLS,
    TRANSITIONS,
    Action,
    GatewaySession,
    Input,
    Phase,
    PublishAudio,
    PublishControl,
    Rejected,
    Reply,
)
from shared import bus
from shared.protocol import Error


def test_audio_before_ready_is_held_then_released_in_order() -> None:
    session = GatewaySession(max_held_frames=10)
    assert session.audio([b"a", b"b"]) == []
    assert session.control(bus.ControlBargeIn()) == []
    assert session.audio([b"c"]) == []
    released = session.claimed()
    assert released == [
        PublishAudio(0, b"a"),
        PublishAudio(1, b"b"),
        PublishControl(bus.ControlBargeIn()),
        PublishAudio(2, b"c"),
    ]
    assert session.phase is Phase.READY
    assert session.audio([b"d"]) == [PublishAudio(3, b"d")]


def test_overflow_before_ready_is_reported_once_never_silently() -> None:
    session = GatewaySession(max_held_frames=2)
    actions = session.audio([b"a", b"b", b"c", b"d"])
    assert len(actions) == 1
    reply = actions[0]
    assert isinstance(reply, Reply) and reply.event.code == "rate_limited"  # type: ignore[attr-defined]
    assert session.audio([b"e"]) == []
    assert [a.seq for a in session.claimed() if isinstance(a, PublishAudio)] == [0, 1]
    assert session.audio([b"f"]) == [PublishAudio(5, b"f")]


def test_controls_when_ready_are_published_at_once() -> None:
    session = GatewaySession(max_held_frames=2)
    session.claimed()
    assert session.control(bus.ControlText(text="hi")) == [PublishControl(bus.ControlText(text="hi"))]


def test_nothing_goes_out_after_close_and_late_input_is_reported() -> None:
    session = GatewaySession(max_held_frames=2)
    session.claimed()
    assert session.close(ended=False) == []
    assert session.audio([b"a"]) == [Rejected(Phase.CLOSED, Input.AUDIO)]
    assert session.control(bus.ControlBargeIn()) == [Rejected(Phase.CLOSED, Input.CONTROL)]
    assert session.turn_lost(3) == [Rejected(Phase.CLOSED, Input.TURN_LOST)]
    assert session.close(ended=True) == [Rejected(Phase.CLOSED, Input.CLOSE)]


def test_an_ended_session_tells_the_workers_and_drops_what_was_held() -> None:
    session = GatewaySession(max_held_frames=2)
    session.audio([b"a"])
    assert session.close(ended=True) == [PublishControl(bus.ControlEnd())]
    assert session.claimed() == [Rejected(Phase.CLOSED, Input.CLAIMED)]


def test_a_second_claim_is_reported() -> None:
    session = GatewaySession(max_held_frames=2)
    session.claimed()
    assert session.claimed() == [Rejected(Phase.READY, Input.CLAIMED)]
    assert session.phase is Phase.READY


@pytest.mark.parametrize("phase", [Phase.CLAIMING, Phase.READY])
def test_a_lost_turn_is_reported_and_stopped_at_once_even_before_the_claim(phase: Phase) -> None:
    session = _in_phase(phase)
    actions = session.turn_lost(4)
    assert len(actions) == 2
    reply, stop = actions
    assert isinstance(reply, Reply) and isinstance(reply.event, Error)
    assert (reply.event.code, reply.event.turn_id, reply.event.fatal) == ("turn_failed", 4, False)
    assert stop == PublishControl(bus.ControlTurnLost(turn_id=4))  # stopped, and never numbered again
    assert session.phase is phase


def test_controls_before_ready_are_bounded_and_the_excess_is_reported() -> None:
    session = GatewaySession(max_held_frames=2)
    for _ in range(MAX_HELD_CONTROLS):
        assert session.control(bus.ControlBargeIn()) == []
    [reply] = session.control(bus.ControlBargeIn())
    assert isinstance(reply, Reply) and isinstance(reply.event, Error) and reply.event.code == "rate_limited"
    assert len(session.claimed()) == MAX_HELD_CONTROLS


def _in_phase(phase: Phase) -> GatewaySession:
    session = GatewaySession(max_held_frames=4)
    if phase is not Phase.CLAIMING:
        session.claimed()
    if phase is Phase.CLOSED:
        session.close(ended=False)
    return session


_FEED = {
    Input.AUDIO: lambda s: s.audio([b"x"]),
    Input.CONTROL: lambda s: s.control(bus.ControlBargeIn()),
    Input.CLAIMED: lambda s: s.claimed(),
    Input.TURN_LOST: lambda s: s.turn_lost(1),
    Input.MOVING: lambda s: s.moving(),
    Input.CLOSE: lambda s: s.close(ended=False),
}


@pytest.mark.parametrize("phase", list(Phase))
@pytest.mark.parametrize("given", list(Input))
def test_every_cell_of_the_table_is_what_the_machine_does(phase: Phase, given: Input) -> None:
    session = _in_phase(phase)
    actions: list[Action] = _FEED[given](session)
    step = TRANSITIONS[phase].get(given)
    if step is None:
        assert actions == [Rejected(phase, given)]
        assert session.phase is phase
    else:
        assert session.phase is step[0]
        assert not any(isinstance(a, Rejected) for a in actions)


class SessionMachine(RuleBasedStateMachine):
    """Guarantees: published frame seqs only grow; before the claim only a lost turn's barge-in is published; what
    was held comes out in arrival order, bounded; after close only the end of an ended session goes out; every
    illegal input is answered by exactly one `Rejected`."""

    def __init__(self) -> None:
        super().__init__()
        self.session = GatewaySession(max_held_frames=3)
        self.published_seqs: list[int] = []
        self.sent: list[int] = []  # seqs of every frame fed before the claim, in order
        self.closed = False

    def _check(self, actions: list[Action], phase_before: Phase, given: Input) -> None:
        legal = given in TRANSITIONS[phase_before]
        assert (actions == [Rejected(phase_before, given)]) is not legal
        for action in actions:
            if isinstance(action, PublishAudio):
                assert self.session.phase is Phase.READY
                self.published_seqs.append(action.seq)
            elif isinstance(action, PublishControl) and phase_before is Phase.CLAIMING and given is not Input.CLAIMED:
                assert given is Input.TURN_LOST and isinstance(action.message, bus.ControlTurnLost)

    @rule(count=st.integers(0, 3))
    def audio(self, count: int) -> None:
        before = self.session.phase
        first = self.session.next_seq
        if before is Phase.CLAIMING:
            self.sent += range(first, first + count)
        self._check(self.session.audio([b"f"] * count), before, Input.AUDIO)

    @rule()
    def control(self) -> None:
        before = self.session.phase
        self._check(self.session.control(bus.ControlText(text="hi")), before, Input.CONTROL)

    @rule()
    def claimed(self) -> None:
        before = self.session.phase
        actions = self.session.claimed()
        self._check(actions, before, Input.CLAIMED)
        if before is Phase.CLAIMING:
            released = [a.seq for a in actions if isinstance(a, PublishAudio)]
            assert released == self.sent[: len(released)]
            assert len(released) <= self.session.max_held_frames
            assert len(actions) - len(released) <= MAX_HELD_CONTROLS
            self.sent = []

    @rule()
    def moving(self) -> None:
        before = self.session.phase
        self._check(self.session.moving(), before, Input.MOVING)

    @rule(turn=st.integers(0, 5))
    def turn_lost(self, turn: int) -> None:
        before = self.session.phase
        self._check(self.session.turn_lost(turn), before, Input.TURN_LOST)

    @precondition(lambda self: not self.closed)
    @rule(ended=st.booleans())
    def close(self, ended: bool) -> None:
        actions = self.session.close(ended)
        assert actions == ([PublishControl(bus.ControlEnd())] if ended else [])
        self.closed = True

    @invariant()
    def seqs_only_grow(self) -> None:
        assert self.published_seqs == sorted(set(self.published_seqs))

    @invariant()
    def closed_is_final(self) -> None:
        assert (self.session.phase is Phase.CLOSED) is self.closed


TestSessionMachine = SessionMachine.TestCase
