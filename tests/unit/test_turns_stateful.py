"""Invariants of the turn machine (dialog_worker/turns.py) under any order of inputs (hypothesis stateful testing):
nothing of turn n is emitted after `interrupted{n}`, nor after its own last event (`audio_end{n}`, or `error{n}` that
fails it, whatever the phase: a CX stream failing while the user still speaks included); turn ids never go back; at
most one turn is open for the client (two streams only while an answer is paused and a candidate listens); a paused
answer and its candidate are held back until the pause is decided, and `resumed{n}` only follows `paused{n}`; once
the gateway failed turn n, nothing runs or is sent of a turn up to n, and the next turn is numbered past n."""

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from dialog_worker import turns
from shared.protocol import Interrupted, Paused, Resumed, SpeechEnded, SpeechStarted

STEP_S = st.floats(min_value=0.0, max_value=0.5)
BACK = st.integers(min_value=0, max_value=2)  # how many turns before the newest one a report is about
RULES = turns.BargeInRules(echo_guard_s=0.25, min_speech_s=0.6, resume_timeout_s=1.5)


class TurnMachineRules(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.machine = turns.TurnMachine(last_turn_id=3, rules=RULES)
        self.now = 0.0
        self.offset_ms = 0
        self.interrupted: set[int] = set()
        self.ended: set[int] = set()  # turns whose own last event went out (audio_end, or an error failing them)
        self.started: list[int] = []  # turns started for the client (speech_started, or a typed turn)
        self.visible: set[int] = set()  # started, neither interrupted nor done
        self.streams: set[int] = set()  # opened and neither cancelled nor done
        self.paused: int | None = None
        self.last_turn_id = self.machine.turn_id
        self.failed_through = 0  # the gateway reported every turn up to this one failed: none is ever opened again
        self.typed = 0
        self.taken_through = 0  # the draining owner opened every turn up to this one: none is ever opened here
        self.numbered_before: int | None = None  # the candidate turn numbered before the last TurnTaken
        self.last_typed: turns.Text | None = None
        self.answered: set[str] = set()  # typed requests that started a turn: a copy never starts another

    def feed(self, event: turns.Input) -> None:
        for action in self.machine.handle(event):
            self.carry_out(action)

    def carry_out(self, action: turns.Action) -> None:
        match action:
            case turns.Emit(event=SpeechStarted(turn_id=turn_id)):
                self.sent(turn_id)
                self.start(turn_id)
            case turns.Emit(event=Interrupted(turn_id=turn_id)):
                self.sent(turn_id)
                self.interrupted.add(turn_id)
                self.visible.discard(turn_id)
                self.paused = None if self.paused == turn_id else self.paused
            case turns.Emit(event=Paused(turn_id=turn_id)):
                assert self.paused is None, "paused twice"
                self.sent(turn_id)
                self.paused = turn_id
            case turns.Emit(event=Resumed(turn_id=turn_id)):
                assert self.paused == turn_id, f"resumed{{{turn_id}}} without paused{{{turn_id}}}"
                self.paused = None
                self.sent(turn_id)
            case turns.Emit(event=SpeechEnded(turn_id=turn_id)):
                self.sent(turn_id)
            case turns.Emit(event=event):
                raise AssertionError(f"the machine emitted {event}")
            case turns.OpenStream(turn_id=turn_id):
                self.streams.add(turn_id)
            case turns.StartText(turn_id=turn_id, text=text):
                assert text not in self.answered, f"{text} answered twice"
                self.answered.add(text)
                self.streams.add(turn_id)
                self.start(turn_id)
            case turns.Cancel(turn_id=turn_id):
                self.streams.discard(turn_id)
            case turns.PassSpeech():
                assert not self.visible, "speech passed on while a turn is open here"

    def start(self, turn_id: int) -> None:
        assert not self.started or turn_id > self.started[-1], (turn_id, self.started)
        assert turn_id > self.failed_through, f"turn {turn_id} opened after the gateway failed it"
        taken = turn_id <= self.taken_through and turn_id != self.numbered_before
        assert not taken, f"turn {turn_id} opened after the draining owner took it"
        self.started.append(turn_id)
        self.visible.add(turn_id)

    def sent(self, turn_id: int) -> None:
        assert turn_id > self.failed_through, f"an event of turn {turn_id} after the gateway failed it"
        assert turn_id not in self.interrupted, f"an event of turn {turn_id} after interrupted{{{turn_id}}}"
        assert turn_id not in self.ended, f"an event of turn {turn_id} after its last event"

    def report_turn(self, back: int) -> int:
        newest = self.machine.turn_id if self.machine.candidate is None else self.machine.candidate
        return max(0, newest - back)

    @rule(step=STEP_S)
    def speech_starts(self, step: float) -> None:
        self.now += step
        self.feed(turns.SpeechStart(self.offset_ms, self.now))

    @rule()
    def speech_ends(self) -> None:
        self.feed(turns.SpeechEnd(self.offset_ms))

    @rule()
    def client_barges_in(self) -> None:
        self.feed(turns.BargeIn())

    @rule(expects=st.booleans())
    def client_types(self, expects: bool) -> None:
        """A new typed request, numbered as the gateway expects it (past every turn), or with no expectation."""
        self.typed += 1
        self.last_typed = turns.Text(f"request {self.typed}", self.machine.turn_id + 1 if expects else 0)
        self.feed(self.last_typed)

    @rule()
    def a_copy_arrives(self) -> None:
        """The gateway sent the last request again (its NATS link dropped before any event answered it)."""
        if self.last_typed is not None and self.last_typed.at_least:
            self.feed(self.last_typed)

    @rule(step=STEP_S)
    def audio_flows(self, step: float) -> None:
        self.now += step
        self.offset_ms += round(step * 1000)
        self.feed(turns.Tick(self.now))

    @rule(back=BACK)
    def agent_hears_the_end(self, back: int) -> None:
        self.feed(turns.StreamEnd(self.report_turn(back), self.offset_ms))

    @rule(back=BACK)
    def bot_audio_starts(self, back: int) -> None:
        self.feed(turns.BotAudio(self.report_turn(back), self.now))

    @rule(step=STEP_S)
    def user_speaks_over_the_answer(self, step: float) -> None:
        """The path to a pause, often enough to explore what follows it: the current answer plays, speech starts."""
        self.feed(turns.BotAudio(self.machine.turn_id, self.now))
        self.now += step
        self.feed(turns.SpeechStart(self.offset_ms, self.now))

    @rule(back=BACK)
    def turn_finishes(self, back: int) -> None:
        turn = self.report_turn(back)
        self.feed(turns.TurnDone(turn))
        self.streams.discard(turn)
        self.visible.discard(turn)

    @rule(back=BACK)
    def turn_sends_its_last_event(self, back: int) -> None:
        """`audio_end{n}` or `error{n}` (the agent failed, at any time): the session reports it done, then sends it,
        when the machine accepts the turn's events (dialog_worker/session.py)."""
        turn = self.report_turn(back)
        if self.machine.accepts(turn) and not self.machine.holds(turn):
            self.sent(turn)
            self.feed(turns.TurnDone(turn))
            self.ended.add(turn)
            self.streams.discard(turn)
            self.visible.discard(turn)

    @rule(back=BACK)
    def recogniser_hears_words(self, back: int) -> None:
        self.feed(turns.Words(self.report_turn(back)))

    @rule(ahead=st.integers(min_value=-1, max_value=1))
    def gateway_fails_a_turn(self, ahead: int) -> None:
        """The gateway told the client a turn failed (NATS lost its request or events, or it was overdue): the
        current one, an older one (late), or the next one, whose request never arrived."""
        lost = max(0, self.machine.turn_id + ahead)
        self.feed(turns.TurnLost(lost))
        self.failed_through = max(self.failed_through, lost)
        assert all(turn > lost for turn in self.visible), f"turn {lost} failed but still open here"
        assert all(turn > lost for turn in self.streams), f"turn {lost} failed but its stream still runs"

    @rule(ahead=st.integers(min_value=0, max_value=2))
    def draining_owner_takes_a_turn(self, ahead: int) -> None:
        """The gateway relays a turn the session's draining owner opened after the move (this is the new owner):
        nothing running here stops, and no turn numbered here from then on is that or lower (a candidate turn
        already numbered keeps its id)."""
        taken = self.machine.turn_id + ahead
        running = set(self.visible)
        self.feed(turns.TurnTaken(taken))
        assert self.visible == running, "a turn the draining owner took stopped one here"
        self.taken_through = max(self.taken_through, taken)
        self.numbered_before = self.machine.candidate

    @rule()
    def session_moves(self) -> None:
        """The session moves to a new owner (this one drains): speech over the answer goes with it."""
        self.feed(turns.HandOver())

    @rule(back=BACK)
    def running_turn_speaks(self, back: int) -> None:
        """A turn's own events (transcript, audio, ...) go out only while the machine accepts them."""
        turn = self.report_turn(back)
        if self.machine.accepts(turn) and not self.machine.holds(turn):
            self.sent(turn)
            assert turn == self.machine.turn_id

    @invariant()
    def turn_ids_never_go_back(self) -> None:
        assert self.machine.turn_id >= self.last_turn_id
        self.last_turn_id = self.machine.turn_id

    @invariant()
    def at_most_one_open_turn(self) -> None:
        assert len(self.visible) <= 1, self.visible
        assert len(self.streams) <= (2 if self.machine.phase is turns.Phase.PAUSED else 1), self.streams

    @invariant()
    def a_paused_answer_is_held_back(self) -> None:
        assert (self.paused is not None) == (self.machine.phase is turns.Phase.PAUSED)
        if self.paused is not None:
            assert self.machine.holds(self.paused) and self.machine.candidate is not None
            assert self.machine.holds(self.machine.candidate) and not self.machine.accepts(self.machine.candidate)

    @invariant()
    def an_interrupted_or_ended_turn_is_not_accepted(self) -> None:
        assert not any(self.machine.accepts(turn) for turn in self.interrupted | self.ended)


TurnMachineRules.TestCase.settings = settings(max_examples=150, stateful_step_count=30, deadline=None)
test_turn_machine_invariants = TurnMachineRules.TestCase
