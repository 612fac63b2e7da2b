"""Invariants of the turn machine (dialog_worker/turns.py) under any order of inputs (hypothesis stateful testing):
nothing of turn n is emitted after `interrupted{n}`, turn ids never go back, at most one turn is open."""

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from dialog_worker import turns
from shared.protocol import Interrupted, SpeechEnded, SpeechStarted

STEP_S = st.floats(min_value=0.0, max_value=0.5)
BACK = st.integers(min_value=0, max_value=2)  # how many turns before the current one a report is about


class TurnMachineRules(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.machine = turns.TurnMachine(last_turn_id=3, echo_guard_s=0.25)
        self.now = 0.0
        self.offset_ms = 0
        self.interrupted: set[int] = set()
        self.opened: list[int] = []
        self.open: set[int] = set()
        self.last_turn_id = self.machine.turn_id

    def feed(self, event: turns.Input) -> None:
        for action in self.machine.handle(event):
            self.carry_out(action)

    def carry_out(self, action: turns.Action) -> None:
        match action:
            case turns.Emit(event=Interrupted() | SpeechStarted() | SpeechEnded() as event):
                self.sent(event.turn_id)
                if isinstance(event, Interrupted):
                    self.interrupted.add(event.turn_id)
            case turns.Emit(event=event):
                raise AssertionError(f"the machine emitted {event}")
            case turns.OpenStream(turn_id=turn_id) | turns.StartText(turn_id=turn_id):
                assert not self.opened or turn_id > self.opened[-1], (turn_id, self.opened)
                self.opened.append(turn_id)
                self.open.add(turn_id)
            case turns.Cancel(turn_id=turn_id):
                self.open.discard(turn_id)

    def sent(self, turn_id: int) -> None:
        assert turn_id not in self.interrupted, f"an event of turn {turn_id} after interrupted{{{turn_id}}}"

    def report_turn(self, back: int) -> int:
        return max(0, self.machine.turn_id - back)

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

    @rule()
    def client_types(self) -> None:
        self.feed(turns.Text("hello"))

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

    @rule(back=BACK)
    def turn_finishes(self, back: int) -> None:
        turn = self.report_turn(back)
        self.feed(turns.TurnDone(turn))
        self.open.discard(turn)

    @rule(back=BACK)
    def running_turn_speaks(self, back: int) -> None:
        """A turn's own events (transcript, audio, ...) go out only while the machine accepts them."""
        turn = self.report_turn(back)
        if self.machine.accepts(turn):
            self.sent(turn)

    @invariant()
    def turn_ids_never_go_back(self) -> None:
        assert self.machine.turn_id >= self.last_turn_id
        self.last_turn_id = self.machine.turn_id

    @invariant()
    def at_most_one_open_turn(self) -> None:
        assert len(self.open) <= 1, self.open

    @invariant()
    def an_interrupted_turn_is_not_accepted(self) -> None:
        assert not any(self.machine.accepts(turn) for turn in self.interrupted)


TurnMachineRules.TestCase.settings = settings(max_examples=150, stateful_step_count=30, deadline=None)
test_turn_machine_invariants = TurnMachineRules.TestCase
