"""The gateway's turn tracker, event by event: its transition table, walked, and its guarantees, checked by a
hypothesis state machine."""

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from gateway.turns import TRANSITIONS, Input, Phase, TurnTracker


def test_a_spoken_turn_opens_on_its_first_event_and_closes_on_its_end() -> None:
    turns = TurnTracker()
    assert turns.event(1, ends=False)
    assert (turns.phase, turns.open_turn, turns.last_turn_id, turns.busy) == (Phase.OPEN, 1, 1, True)
    assert turns.event(1, ends=False)
    assert turns.event(1, ends=True)
    assert (turns.phase, turns.open_turn, turns.last_turn_id, turns.busy) == (Phase.IDLE, None, 1, False)


def test_a_typed_request_is_busy_until_its_turn_answers() -> None:
    turns = TurnTracker()
    turns.request("show me shoes", 10.0)
    assert (turns.phase, turns.busy) == (Phase.AWAITING, True)
    assert turns.event(None, ends=False)  # session-level events (pong) say nothing of turns
    assert turns.phase is Phase.AWAITING
    turns.event(1, ends=False)
    assert (turns.phase, turns.open_turn) == (Phase.OPEN, 1)


def test_a_request_failed_at_once_ends_the_wait() -> None:
    turns = TurnTracker()
    turns.request("show me shoes", 10.0)
    turns.event(1, ends=True)
    assert (turns.phase, turns.last_turn_id) == (Phase.IDLE, 1)


def test_a_newer_turn_takes_the_place_of_the_open_one() -> None:
    turns = TurnTracker()
    turns.event(1, ends=False)
    turns.event(2, ends=False)  # spoken barge-in: turn 2 starts before interrupted{1} arrives
    assert turns.open_turn == 2
    assert turns.event(1, ends=True)  # stale: relayed, changes nothing
    assert (turns.phase, turns.open_turn) == (Phase.OPEN, 2)
    assert not turns.event(1, ends=False)  # turn 1 has ended


def test_nothing_of_a_turn_is_relayed_after_its_end() -> None:
    turns = TurnTracker()
    turns.event(3, ends=False)
    assert turns.event(3, ends=True)
    assert not turns.event(3, ends=False)  # e.g. a stalled worker waking up
    assert not turns.event(3, ends=True)  # a second end (error then interrupted)
    assert not turns.event(2, ends=False)  # an older turn is over too
    assert turns.event(4, ends=False)


def test_a_stale_event_does_not_answer_a_typed_request() -> None:
    turns = TurnTracker(last_turn_id=3)
    turns.request("show me shoes", 10.0)
    assert turns.event(2, ends=False)
    assert turns.phase is Phase.AWAITING


def test_losing_an_open_turn_reports_it_and_drops_its_late_events() -> None:
    turns = TurnTracker()
    turns.event(1, ends=False)
    assert turns.lose() == 1
    assert not turns.busy
    assert not turns.event(1, ends=False)
    assert not turns.event(1, ends=True)
    assert turns.event(2, ends=False)


def test_a_retry_lost_again_is_reported_as_a_new_turn() -> None:
    turns = TurnTracker(last_turn_id=4)
    turns.request("show me shoes", 10.0)
    assert turns.lose() == 5
    turns.request("show me shoes", 10.0)  # the retry, numbered past 5 by the next owner, is lost before it spoke
    assert turns.lose() == 6


def test_losing_an_unanswered_request_reports_the_next_turn() -> None:
    turns = TurnTracker(last_turn_id=4)
    turns.request("show me shoes", 10.0)
    assert turns.lose() == 5
    assert not turns.event(5, ends=False)
    assert turns.phase is Phase.IDLE


def test_a_request_its_crashed_owner_never_answered_is_sent_again_once() -> None:
    turns = TurnTracker(last_turn_id=4)
    turns.request("show me shoes", 10.0)
    assert turns.hold_to_resend()
    assert turns.take_resend(20.0) == "show me shoes"
    assert turns.busy and turns.take_resend(20.0) is None
    assert not turns.hold_to_resend()  # the next owner crashes too: the turn is reported lost
    assert turns.lose() == 5


def test_an_answered_or_superseded_request_is_not_sent_again() -> None:
    turns = TurnTracker()
    turns.request("show me shoes", 10.0)
    turns.event(1, ends=False)
    assert not turns.hold_to_resend()  # its turn had spoken: it is reported lost instead
    turns.event(1, ends=True)
    turns.request("show me shoes", 10.0)
    assert turns.hold_to_resend()
    turns.request("show me hats", 10.0)  # typed while the owner moves: held and sent to the new owner as it is
    assert turns.take_resend(20.0) is None


def test_a_request_nothing_answers_is_overdue_once_at_its_due_time() -> None:
    turns = TurnTracker(last_turn_id=2)
    turns.request("show me shoes", 10.0)
    assert not turns.take_overdue(9.9)
    assert turns.take_overdue(10.0)
    assert not turns.take_overdue(11.0)  # reported once
    assert turns.lose() == 3


def test_an_answered_request_is_never_overdue() -> None:
    turns = TurnTracker()
    turns.request("show me shoes", 10.0)
    turns.event(1, ends=False)
    assert not turns.take_overdue(100.0)
    turns.event(1, ends=True)
    assert not turns.take_overdue(100.0)


def test_nothing_is_lost_when_no_turn_is_under_way() -> None:
    turns = TurnTracker()
    turns.event(1, ends=True)
    assert turns.lose() is None
    assert turns.event(2, ends=False)


def test_a_turn_under_way_when_the_link_dropped_is_lost_one_typed_while_it_was_down_is_not() -> None:
    turns = TurnTracker(last_turn_id=2)
    turns.event(3, ends=False)
    turns.cut_off()
    assert turns.under_way_since_cut()  # its events may be gone: report it
    assert not turns.under_way_since_cut()  # once
    turns.lose()
    turns.cut_off()
    turns.request("show me shoes", 10.0)  # buffered by the client library, sent on reconnect
    assert not turns.under_way_since_cut()
    assert turns.phase is Phase.AWAITING and turns.take_overdue(10.0)  # unless nothing answers it in time


def test_a_request_unanswered_when_the_link_dropped_is_sent_again_one_that_had_begun_is_lost() -> None:
    turns = TurnTracker(last_turn_id=2)
    turns.request("show me shoes", 10.0)
    turns.cut_off()
    assert turns.under_way_since_cut() and turns.hold_to_resend()  # nothing answered it: it may never have arrived
    assert turns.take_resend(30.0) == "show me shoes" and turns.answer_due == 30.0
    assert turns.next_turn_id == 3  # the copy is numbered as the original: the worker knows it by that
    turns.event(3, ends=False)
    turns.cut_off()
    assert turns.under_way_since_cut() and not turns.hold_to_resend()  # its answer had begun: reported lost
    assert turns.lose() == 3


def test_a_request_is_not_overdue_while_the_bus_carries_nothing() -> None:
    turns = TurnTracker()
    turns.request("show me shoes", 10.0)
    turns.bus_stalled(12.0)  # the link is found stalled at 9 s (due 12: now + the answer timeout of 3 s)
    assert not turns.take_overdue(10.0)
    turns.bus_stalled(11.0)  # an earlier due never brings it forward
    assert not turns.take_overdue(11.5) and turns.take_overdue(12.0)
    turns.lose()
    turns.bus_stalled(50.0)  # nothing awaits an answer: nothing to move
    assert turns.answer_due is None


def _in_phase(phase: Phase) -> TurnTracker:
    turns = TurnTracker(last_turn_id=2)
    if phase is Phase.AWAITING:
        turns.request("show me shoes", 10.0)
    elif phase is Phase.OPEN:
        turns.event(3, ends=False)
    return turns


_FEED = {
    Input.REQUEST: lambda t: t.request("show me shoes", 10.0),
    Input.SPEAKS: lambda t: t.event(4, ends=False),
    Input.ENDS: lambda t: t.event(4, ends=True),
    Input.STALE: lambda t: t.event(1, ends=False),
    Input.LOST: lambda t: t.lose(),
}


@pytest.mark.parametrize("phase", list(Phase))
@pytest.mark.parametrize("given", list(Input))
def test_every_cell_of_the_table_is_what_the_tracker_does(phase: Phase, given: Input) -> None:
    turns = _in_phase(phase)
    _FEED[given](turns)
    assert turns.phase is TRANSITIONS[phase][given]


class TrackerMachine(RuleBasedStateMachine):
    """Guarantees: last_turn_id never goes back and no open turn is older than it; at most one open turn, and
    busy is exactly "awaiting or open"; after an end of turn n was relayed or lose() returned n, no event of turn
    n or of an older turn is relayed; a request held to be sent again (its owner crashed, or the link dropped) is sent
    once at most, only the newest one, and only while nothing has answered it; when the NATS link comes back, a turn
    is reported lost or its request sent again only if it was under way when the link dropped; a stalled bus never
    brings a request's due time forward."""

    def __init__(self) -> None:
        super().__init__()
        self.turns = TurnTracker()
        self.last = 0
        self.over = 0  # the newest turn whose end was relayed or that was reported lost
        self.typed = 0  # requests typed so far (each with its own text)
        self.resent: set[str] = set()
        self.waited_all_along = False  # the tracker awaited the newest request ever since it was typed
        self.busy_since_cut: bool | None = None  # while the link is down: a turn has been under way since it dropped

    @rule()
    def request(self) -> None:
        self.typed += 1
        self.turns.request(f"request {self.typed}", 10.0)
        self.waited_all_along = self.turns.phase is Phase.AWAITING

    @rule()
    def owner_crashed(self) -> None:
        if not self.turns.hold_to_resend():
            self.lose()

    @rule()
    def resend(self) -> None:
        """A typed request is sent again once at most, only the newest, only if nothing answered it meanwhile."""
        text = self.turns.take_resend(20.0)
        if text is not None:
            assert text == f"request {self.typed}" and text not in self.resent
            assert self.waited_all_along
            self.resent.add(text)

    @rule(due=st.floats(0.0, 60.0))
    def bus_stalls(self, due: float) -> None:
        before = self.turns.answer_due
        self.turns.bus_stalled(due)
        after = self.turns.answer_due
        assert (before is None) is (after is None)
        assert before is None or (after is not None and after >= max(before, due))

    @rule(turn=st.none() | st.integers(0, 6), ends=st.booleans())
    def event(self, turn: int | None, ends: bool) -> None:
        relayed = self.turns.event(turn, ends)
        if turn is None:
            assert relayed
        elif turn <= self.over:
            assert not relayed
        elif ends:
            assert relayed
            self.over = turn

    @rule()
    def lose(self) -> None:
        busy = self.turns.busy
        turn = self.turns.lose()
        assert (turn is not None) is busy
        if turn is not None:
            assert turn >= self.turns.last_turn_id and turn > self.over
            self.over = turn

    @rule()
    def link_drops(self) -> None:
        self.turns.cut_off()
        self.busy_since_cut = self.turns.busy

    @rule()
    def link_back(self) -> None:
        cut = self.turns.under_way_since_cut()
        assert cut is bool(self.busy_since_cut), "a turn reported lost that the outage cannot have cut, or missed"
        self.busy_since_cut = None
        if cut and not self.turns.hold_to_resend():
            self.lose()

    @invariant()
    def still_under_way(self) -> None:
        """A turn under way since the link dropped stays so until it ends or is lost (no event, or an end)."""
        if self.busy_since_cut:
            self.busy_since_cut = self.turns.busy

    @invariant()
    def still_waiting(self) -> None:
        self.waited_all_along = self.waited_all_along and self.turns.phase is Phase.AWAITING

    @invariant()
    def turn_ids_never_go_back(self) -> None:
        assert self.turns.last_turn_id >= self.last
        self.last = self.turns.last_turn_id

    @invariant()
    def one_open_turn_at_most(self) -> None:
        assert (self.turns.open_turn is not None) is (self.turns.phase is Phase.OPEN)
        if self.turns.open_turn is not None:
            assert self.turns.open_turn == self.turns.last_turn_id
        assert self.turns.busy is (self.turns.phase in (Phase.AWAITING, Phase.OPEN))


TestTrackerMachine = TrackerMachine.TestCase
