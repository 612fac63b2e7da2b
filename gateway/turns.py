"""Pure tracker of one session's turns as the gateway sees them (no asyncio, no I/O): is a turn under way, which
one, and which turns are over (ended, or reported lost) so that their late events are dropped.

It reads only what the gateway relays: each event's turn and whether it ends the turn (`shared.protocol.ends_turn`,
docs/protocol.md). The transition table `TRANSITIONS` is its documentation; every phase takes every input.

Guarantees (tests/unit/test_gateway_turns.py walks the table and checks them with hypothesis):
- `last_turn_id` never goes back; an open turn is never older than the newest turn seen;
- at most one turn is open, and `busy` is exactly "a typed request is unanswered or a turn is open";
- nothing of a turn is relayed after its end: once an event ending turn n was relayed or `lose()` returned n, no
  later event of turn n or of an older turn reaches the client (a worker that stalled, or the retiring owner of a
  handover, cannot speak into a turn the client has seen end);
- a typed request no event answers by its due time (`request(text, due)`) is reported lost once
  (`take_overdue`): it or its answer was lost on the way (a worker's link to NATS went stale), and the client
  is told rather than left waiting; while the gateway's own link carries nothing, nothing can answer it, so its
  due time moves on (`bus_stalled`);
- a turn under way when the gateway's NATS link dropped, and still under way once it is back
  (`under_way_since_cut`), is reported lost when it had begun (its events may be gone); a request no event answered
  yet is sent again instead (the dialog worker takes a copy of a request it has as nothing, dialog_worker/turns.py);
  a request typed while the link was down is neither (it was buffered and sent on reconnect), it is answered or
  found overdue;
- a typed request is held to be sent again, once (`hold_to_resend`, then `take_resend`), when its dialog owner
  crashed, or the link dropped, before any event answered it, unless the client typed a newer request meanwhile;
  its text is kept only while it is unanswered.
"""

from enum import Enum


class Phase(Enum):
    IDLE = "idle"  # no turn under way
    AWAITING = "awaiting"  # a typed request was sent and no event of a turn has answered it yet
    OPEN = "open"  # a turn has spoken and not ended


class Input(Enum):
    REQUEST = "request"  # the client typed a request (`text_input`)
    SPEAKS = "speaks"  # an event of the newest turn (or a newer one) that does not end it
    ENDS = "ends"  # an event of the newest turn (or a newer one) that ends it
    STALE = "stale"  # an event of a turn older than the newest seen: relayed, changes nothing
    LOST = "lost"  # the turn under way lost its worker or its events


TRANSITIONS: dict[Phase, dict[Input, Phase]] = {
    Phase.IDLE: {
        Input.REQUEST: Phase.AWAITING,
        Input.SPEAKS: Phase.OPEN,
        Input.ENDS: Phase.IDLE,
        Input.STALE: Phase.IDLE,
        Input.LOST: Phase.IDLE,  # nothing was under way: nothing to report
    },
    Phase.AWAITING: {
        Input.REQUEST: Phase.AWAITING,
        Input.SPEAKS: Phase.OPEN,
        Input.ENDS: Phase.IDLE,  # e.g. the request failed at once (`error` turn_failed)
        Input.STALE: Phase.AWAITING,
        Input.LOST: Phase.IDLE,  # reported as turn last_turn_id + 1
    },
    Phase.OPEN: {
        Input.REQUEST: Phase.OPEN,
        Input.SPEAKS: Phase.OPEN,  # the open turn goes on (or a newer turn took its place)
        Input.ENDS: Phase.IDLE,
        Input.STALE: Phase.OPEN,
        Input.LOST: Phase.IDLE,  # reported as the open turn
    },
}


class TurnTracker:
    def __init__(self, last_turn_id: int = 0) -> None:
        self.phase = Phase.IDLE
        self.last_turn_id = last_turn_id
        self.open_turn: int | None = None
        self.ended_through = 0  # the newest turn that ended or was reported lost: nothing up to it is relayed
        self.unanswered: str | None = None  # the typed request awaiting its turn's first event
        self.resend: str | None = None  # that request, held to be sent again (its owner crashed, or the link dropped)
        self.answer_due: float | None = None  # when that request is overdue (monotonic seconds)
        self.busy_at_cut = False  # a turn was under way when the NATS link last dropped

    @property
    def busy(self) -> bool:
        return self.phase is not Phase.IDLE

    @property
    def next_turn_id(self) -> int:
        """The turn a request typed now is expected to be: past every turn seen or reported lost (the dialog
        worker numbers it at least so, shared/bus.py `ControlText`)."""
        return max(self.last_turn_id, self.ended_through) + 1

    def request(self, text: str, due: float) -> None:
        """The client typed `text`; an event of its turn is expected by `due` (monotonic seconds)."""
        self._step(Input.REQUEST)
        awaiting = self.phase is Phase.AWAITING
        self.unanswered, self.answer_due = (text, due) if awaiting else (None, None)
        self.resend = None  # a newer request supersedes one held to be sent again

    def cut_off(self) -> None:
        """The gateway's NATS link dropped: events of the turn under way may be lost until it is back."""
        self.busy_at_cut = self.busy

    def under_way_since_cut(self) -> bool:
        """The link is back: True when the turn under way was already under way when it dropped (report it lost)."""
        cut, self.busy_at_cut = self.busy_at_cut, False
        return cut and self.busy

    def bus_stalled(self, due: float) -> None:
        """The gateway's link to NATS carries nothing now: an unanswered request is due no sooner than `due`."""
        if self.answer_due is not None:
            self.answer_due = max(self.answer_due, due)

    def take_overdue(self, now: float) -> bool:
        """True once when the typed request under way is still unanswered at its due time: report it lost."""
        if self.answer_due is None or now < self.answer_due or self.phase is not Phase.AWAITING:
            return False
        self.answer_due = None
        return True

    def hold_to_resend(self) -> bool:
        """The dialog owner crashed, or the NATS link dropped: True when a typed request no event answered is held to
        be sent again (once, by `take_resend`), False when there is none and the turn under way is to be reported
        lost."""
        if self.phase is not Phase.AWAITING or self.unanswered is None:
            return False
        self.resend, self.unanswered = self.unanswered, None
        return True

    def take_resend(self, due: float) -> str | None:
        """The request to send again, once, now expected by `due`; None when there is none (answered, lost or
        superseded)."""
        resend, self.resend = self.resend, None
        if resend is None or self.phase is not Phase.AWAITING:
            return None
        self.answer_due = due
        return resend

    def event(self, turn_id: int | None, ends: bool) -> bool:
        """Track a relayed event (`ends`: `ends_turn` of it); False when the event must not reach the client."""
        if turn_id is None:
            return True
        if turn_id <= self.ended_through:
            return False
        if ends:
            self.ended_through = turn_id
        if turn_id < self.last_turn_id:
            self._step(Input.STALE)
            return True
        self.last_turn_id = turn_id
        self._step(Input.ENDS if ends else Input.SPEAKS)
        self.open_turn = turn_id if self.phase is Phase.OPEN else None
        self._forget_request()
        return True

    def lose(self) -> int | None:
        """The turn under way lost its worker or its events: the turn to report failed, None when none was."""
        turn = None
        if self.busy:
            turn = self.open_turn if self.open_turn is not None else max(self.last_turn_id, self.ended_through) + 1
            self.ended_through = turn
        self._step(Input.LOST)
        self.open_turn = None
        self._forget_request()
        return turn

    def _forget_request(self) -> None:
        """An event of a newer turn answered the typed request, or the turn was lost: nothing to send again or time."""
        self.unanswered = self.resend = self.answer_due = None

    def _step(self, given: Input) -> None:
        self.phase = TRANSITIONS[self.phase][given]
        if self.phase is Phase.IDLE:
            self.busy_at_cut = False  # what was under way at the cut is over; a request after it was buffered
