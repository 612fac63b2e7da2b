"""The phone's outbound pacer: real-time release with a lead, marks in order, pause takes back, drop forgets."""

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from gateway.twilio.pacer import FRAME_S, MarkOut, Pacer

LEAD = 0.06


def frames(first: int, count: int) -> list[bytes]:
    return [i.to_bytes(4, "big") for i in range(first, first + count)]


def test_releases_the_lead_then_one_frame_per_frame_time() -> None:
    pacer = Pacer(LEAD)
    pacer.add(frames(0, 50))
    assert len(pacer.due(0.0)) == 4  # starts at 0, 0.02, 0.04, 0.06: within the 60 ms lead
    assert pacer.due(0.005) == []
    assert len(pacer.due(0.02)) == 1
    assert pacer.next_due(0.02) == pytest.approx(0.04)
    assert pacer.due(1.0) == frames(5, 4)  # woken late: Twilio ran dry, the answer goes on from where it was
    later = [item for step in range(1, 45) for item in pacer.due(1.0 + step * FRAME_S)]
    assert later == frames(9, 41) and pacer.next_due(1.89) is None and pacer.playing(1.89)  # the last: 1.88-1.90
    assert not pacer.playing(1.91)


def test_marks_come_after_the_audio_before_them() -> None:
    pacer = Pacer(LEAD)
    pacer.add([*frames(0, 2), MarkOut("turn-1"), *frames(2, 10)])
    out = pacer.due(0.0)
    assert out[:3] == [*frames(0, 2), MarkOut("turn-1")]
    assert not pacer.pending("turn-1")


def test_pause_takes_back_what_twilio_has_not_played() -> None:
    pacer = Pacer(LEAD)
    pacer.add([*frames(0, 10), MarkOut("turn-1")])
    released = pacer.due(0.0)  # frames 0-3 (0-80 ms)
    assert released == frames(0, 4)
    pacer.pause(0.03)  # frame 1 is playing: frames 1-3 come back
    assert pacer.due(0.5) == [] and pacer.next_due(0.5) is None
    pacer.resume(1.0)
    assert pacer.due(1.0) == frames(1, 4)
    assert pacer.pending("turn-1")


def test_drop_forgets_and_says_whether_anything_was_unplayed() -> None:
    pacer = Pacer(LEAD)
    assert not pacer.drop(0.0)
    pacer.add(frames(0, 10))
    pacer.due(0.0)
    assert pacer.drop(0.01)
    assert pacer.due(5.0) == [] and not pacer.playing(0.01)
    pacer.add(frames(10, 1))
    assert pacer.due(5.0) == frames(10, 1)


def test_an_interrupted_paused_answer_lets_the_next_answer_play() -> None:
    pacer = Pacer(LEAD)
    pacer.add(frames(0, 10))
    pacer.due(0.0)
    pacer.pause(0.03)  # speech over the answer: paused, then confirmed
    assert pacer.drop(0.5)
    pacer.add(frames(10, 2))  # the next turn's answer
    assert pacer.due(0.6) == frames(10, 2)


class PacerMachine(RuleBasedStateMachine):
    """Whatever the caller does: nothing is released while paused or early, nothing dropped comes back, and the
    audio that plays is the answer in order (a pause repeats at most the one frame that was playing)."""

    def __init__(self) -> None:
        super().__init__()
        self.pacer = Pacer(LEAD)
        self.now = 0.0
        self.next_id = 0
        self.dropped_below = 0
        self.played: list[int] = []  # ids in release order, minus what a pause took back
        self.release_end: list[float] = []

    @rule(count=st.integers(1, 30))
    def add(self, count: int) -> None:
        self.pacer.add(frames(self.next_id, count))
        self.next_id += count

    @rule(dt=st.floats(0.0, 0.5))
    def advance(self, dt: float) -> None:
        self.now += dt
        out = self.pacer.due(self.now)
        assert not (out and self.pacer.paused)
        ids = [int.from_bytes(item, "big") for item in out if isinstance(item, bytes)]
        assert all(i >= self.dropped_below for i in ids)
        start = max([self.now, *self.release_end[-1:]])
        for i in ids:
            assert start <= self.now + LEAD + 1e-9
            start += FRAME_S
            self.played.append(i)
            self.release_end.append(start)

    @precondition(lambda self: not self.pacer.paused)
    @rule()
    def pause(self) -> None:
        self.pacer.pause(self.now)
        keep = [end <= self.now for end in self.release_end]
        self.played = [i for i, k in zip(self.played, keep, strict=True) if k]
        self.release_end = [end for end in self.release_end if end <= self.now]

    @precondition(lambda self: self.pacer.paused)
    @rule()
    def resume(self) -> None:
        self.pacer.resume(self.now)
        self.release_end = [min(end, self.now) for end in self.release_end]

    @rule()
    def drop(self) -> None:
        self.pacer.drop(self.now)
        self.dropped_below = self.next_id
        self.release_end = [min(end, self.now) for end in self.release_end]

    @invariant()
    def played_in_order(self) -> None:
        assert self.played == sorted(self.played) and len(set(self.played)) == len(self.played)


TestPacerMachine = PacerMachine.TestCase
