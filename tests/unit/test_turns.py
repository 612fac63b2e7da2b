"""The turn and barge-in state machine: every cell of its transition table, then whole scenarios event by event
(interruptions that are confirmed or taken back included)."""

import itertools

import pytest

from dialog_worker.turns import (
    TRANSITIONS,
    Action,
    BargeIn,
    BargeInRules,
    BotAudio,
    Cancel,
    Effect,
    Emit,
    EndStream,
    HandOver,
    Input,
    OpenStream,
    PassSpeech,
    Phase,
    Rejected,
    SpeechEnd,
    SpeechStart,
    StartText,
    StreamEnd,
    Text,
    Tick,
    Trigger,
    TurnDone,
    TurnLost,
    TurnMachine,
    TurnMachineMisuse,
    TurnTaken,
    Words,
)
from shared.protocol import Interrupted, Paused, Resumed, SpeechEnded, SpeechStarted

RULES = BargeInRules(echo_guard_s=0.3, min_speech_s=0.6, resume_timeout_s=1.5)
BOT_AUDIO_AT = 2.0
HELD_OFFSET = 1500
PAUSED_AT = 3.0
PAUSE_OFFSET = 2000
OFFSET = 3000  # offset of the inputs under test: 1 s after the pausing speech started, so it counts as long
TO_SPEAKING: list[Input] = [SpeechStart(100, 1.0), SpeechEnd(900), BotAudio(5, BOT_AUDIO_AT)]
PATHS: dict[Phase, list[Input]] = {
    Phase.IDLE: [],
    Phase.LISTENING: TO_SPEAKING[:1],
    Phase.THINKING: TO_SPEAKING[:2],
    Phase.SPEAKING: TO_SPEAKING,
    Phase.HELD: [*TO_SPEAKING, SpeechStart(HELD_OFFSET, 2.1)],
    Phase.PAUSED: [*TO_SPEAKING, SpeechStart(PAUSE_OFFSET, PAUSED_AT)],
}


TYPED_BEFORE = Text("hello", at_least=4)  # turn 4, a typed request, answered before every path starts


def machine_in(phase: Phase) -> TurnMachine:
    """A machine driven to `phase` through its ordinary path (turn 5 open unless IDLE; bot audio from 2.0 s), after
    typed turn 4."""
    machine = TurnMachine(last_turn_id=3, rules=RULES)
    for event in [TYPED_BEFORE, TurnDone(4), *PATHS[phase]]:
        machine.handle(event)
    assert machine.phase is phase
    return machine


def input_for(trigger: Trigger, machine: TurnMachine) -> Input:
    """An input of `trigger` kind for `machine` (inside the echo guard means 0.2 s after the bot's audio)."""
    current = machine.turn_id
    inputs: dict[Trigger, Input] = {
        Trigger.SPEECH_START: SpeechStart(OFFSET, 5.0),
        Trigger.SPEECH_IN_GUARD: SpeechStart(OFFSET, BOT_AUDIO_AT + 0.2),
        Trigger.SPEECH_END: SpeechEnd(OFFSET),
        Trigger.SHORT_SPEECH_END: SpeechEnd(PAUSE_OFFSET + 100),
        Trigger.BARGE_IN: BargeIn(),
        Trigger.TEXT: Text("hello"),
        Trigger.WORDS: Words(current if machine.candidate is None else machine.candidate),
        Trigger.TICK: Tick(BOT_AUDIO_AT + 0.2),
        Trigger.GUARD_OVER: Tick(BOT_AUDIO_AT + RULES.echo_guard_s + 0.01),
        Trigger.RESUME_TIMEOUT: Tick(PAUSED_AT + RULES.resume_timeout_s),
        Trigger.STREAM_END: StreamEnd(current, OFFSET),
        Trigger.BOT_AUDIO: BotAudio(current, BOT_AUDIO_AT + 0.2),
        Trigger.TURN_DONE: TurnDone(current),
        Trigger.CANDIDATE: TurnDone(current + 1),
        Trigger.STALE: TurnDone(current - 1),
        Trigger.HAND_OVER: HandOver(),
        Trigger.TURN_LOST: TurnLost(current),
        Trigger.REPEATED: TYPED_BEFORE,
        Trigger.TURN_TAKEN: TurnTaken(current + 1),
    }
    return inputs[trigger]


# Triggers that only arise in some phases: the echo guard runs only while the bot speaks, a candidate turn and the
# judgement of its speech exist only while the answer is paused.
ONLY_IN = {
    Trigger.SPEECH_IN_GUARD: {Phase.SPEAKING, Phase.HELD},
    Trigger.GUARD_OVER: {Phase.HELD},
    Trigger.RESUME_TIMEOUT: {Phase.PAUSED},
    Trigger.SHORT_SPEECH_END: {Phase.PAUSED},
    Trigger.CANDIDATE: {Phase.PAUSED},
}
CELLS = [(p, t) for p, t in itertools.product(Phase, Trigger) if p in ONLY_IN.get(t, set(Phase))]


def expected_actions(effects: tuple[Effect, ...], turn: int, offset: int, speech: int = PAUSE_OFFSET) -> list[Action]:
    """What each effect must produce, from turn `turn` (the candidate is turn + 1; `speech`: where the speech over
    the answer started)."""
    actions: list[Action] = []
    for effect in effects:
        if effect is Effect.INTERRUPT:
            actions += [Cancel(turn), Emit(Interrupted(turn_id=turn))]
        elif effect is Effect.OPEN:
            turn += 1
            actions += [Emit(SpeechStarted(turn_id=turn, offset_ms=offset)), OpenStream(turn)]
        elif effect is Effect.END:
            actions += [Emit(SpeechEnded(turn_id=turn, offset_ms=offset)), EndStream(turn)]
        elif effect is Effect.START_TEXT:
            turn += 1
            actions.append(StartText(turn, "hello"))
        elif effect in (Effect.PAUSE, Effect.PAUSE_HELD):
            actions += [Emit(Paused(turn_id=turn)), OpenStream(turn + 1)]
        elif effect is Effect.ADOPT:
            turn += 1
            actions.append(Emit(SpeechStarted(turn_id=turn, offset_ms=PAUSE_OFFSET)))
        elif effect is Effect.DROP:
            actions.append(Cancel(turn + 1))
        elif effect is Effect.RESUME:
            actions.append(Emit(Resumed(turn_id=turn)))
        elif effect is Effect.PASS:
            actions.append(PassSpeech(speech))
    return actions


@pytest.mark.parametrize(("phase", "trigger"), CELLS, ids=[f"{p.value}-{t.value}" for p, t in CELLS])
def test_every_cell_of_the_table(phase: Phase, trigger: Trigger) -> None:
    machine = machine_in(phase)
    event = input_for(trigger, machine)
    assert machine.classify(event) is trigger
    turn = machine.turn_id
    transition = TRANSITIONS[phase].get(trigger)
    actions = machine.handle(event)
    if transition is None:
        assert actions == [Rejected(phase, trigger)]
        assert (machine.phase, machine.turn_id) == (phase, turn)
    else:
        speech = HELD_OFFSET if phase is Phase.HELD else PAUSE_OFFSET
        assert actions == expected_actions(transition.effects, turn, OFFSET, speech)
        assert machine.phase is transition.to


def test_the_table_rejects_only_reports_that_cannot_be_right() -> None:
    rejected = {(p, t) for p, t in CELLS if t not in TRANSITIONS[p]}
    audio_twice = {(phase, Trigger.BOT_AUDIO) for phase in (Phase.LISTENING, Phase.SPEAKING, Phase.HELD, Phase.PAUSED)}
    words_after_audio = {(Phase.SPEAKING, Trigger.WORDS), (Phase.HELD, Trigger.WORDS)}
    assert rejected == audio_twice | words_after_audio | {(Phase.PAUSED, Trigger.TURN_DONE)}


def test_reports_of_a_turn_have_no_effect_but_the_phase() -> None:
    """`bot_audio_started` and `turn_done` are called synchronously (of the answer, the candidate or an older turn):
    the table gives them no actions to carry out."""
    for row in TRANSITIONS.values():
        for trigger in (Trigger.BOT_AUDIO, Trigger.TURN_DONE, Trigger.CANDIDATE, Trigger.STALE):
            if trigger in row:
                assert set(row[trigger].effects) <= {Effect.BOT_AUDIO}


def test_a_report_of_a_turn_never_opened_is_our_bug() -> None:
    machine = machine_in(Phase.THINKING)
    with pytest.raises(TurnMachineMisuse):
        machine.handle(TurnDone(machine.turn_id + 1))


def test_a_failed_turn_that_never_opened_here_is_never_numbered_again() -> None:
    """The gateway failed turn 5 (its request was lost on the way): the next request is turn 6 on both sides."""
    machine = TurnMachine(last_turn_id=4, rules=RULES)
    assert machine.handle(TurnLost(5)) == [] and machine.phase is Phase.IDLE
    assert machine.handle(Text("hello")) == [StartText(6, "hello")]


def test_a_failed_turn_that_runs_is_stopped_and_the_loss_of_an_older_one_changes_nothing() -> None:
    machine = machine_in(Phase.SPEAKING)
    assert machine.handle(TurnLost(4)) == [] and machine.phase is Phase.SPEAKING
    assert machine.handle(TurnLost(5)) == [Cancel(5), Emit(Interrupted(turn_id=5))]
    assert machine.phase is Phase.IDLE and not machine.accepts(5)


def test_a_typed_request_takes_at_least_the_turn_the_gateway_expects() -> None:
    """The gateway failed turn 5, and the TurnLost that said so was lost too: the retry, expected as turn 6, is 6."""
    machine = TurnMachine(last_turn_id=4, rules=RULES)
    assert machine.handle(Text("hello", at_least=6)) == [StartText(6, "hello")]
    assert machine.handle(Text("hi", at_least=6)) == [Cancel(6), Emit(Interrupted(turn_id=6)), StartText(7, "hi")]


def test_a_typed_request_sent_again_is_answered_once_whichever_copy_comes_first() -> None:
    """The gateway sends a request again when its NATS link dropped before anything answered it: the copy (the same
    text for the same expected turn) changes nothing, in any phase, even after turns the machine opened since."""
    machine = TurnMachine(last_turn_id=4, rules=RULES)
    assert machine.handle(Text("hello", at_least=5)) == [StartText(5, "hello")]
    assert machine.classify(Text("hello", at_least=5)) is Trigger.REPEATED
    assert machine.handle(Text("hello", at_least=5)) == [] and machine.phase is Phase.THINKING
    machine.handle(TurnDone(5))
    machine.handle(SpeechStart(100, 1.0))  # a spoken turn 6 opens before the copy comes
    assert machine.handle(Text("hello", at_least=5)) == [] and machine.phase is Phase.LISTENING
    assert machine.handle(Text("hello", at_least=7)) == [Cancel(6), Emit(Interrupted(turn_id=6)), StartText(7, "hello")]
    assert machine.handle(Text("hello")) == [Cancel(7), Emit(Interrupted(turn_id=7)), StartText(8, "hello")]
    assert machine.handle(Text("hello")) != []  # no expectation (at_least 0): nothing to know a copy by


def test_a_turn_the_draining_owner_took_is_never_numbered_here() -> None:
    """The new owner was claimed from turn 4; the draining owner then opened turn 6 for a barge-in it confirmed
    before it learned of the move: the answer running here goes on, and the next turn here is 7."""
    machine = machine_in(Phase.SPEAKING)
    assert machine.handle(TurnTaken(6)) == [] and machine.phase is Phase.SPEAKING and machine.accepts(5)
    assert machine.handle(TurnDone(5)) == []
    assert machine.handle(SpeechStart(OFFSET, 9.0)) == [
        Emit(SpeechStarted(turn_id=7, offset_ms=OFFSET)),
        OpenStream(7),
    ]


def test_a_failed_paused_answer_goes_with_the_speech_over_it() -> None:
    machine = machine_in(Phase.PAUSED)
    assert machine.handle(TurnLost(6)) == [Cancel(5), Emit(Interrupted(turn_id=5)), Cancel(6)]
    assert machine.phase is Phase.IDLE
    assert machine.handle(Text("hello")) == [StartText(7, "hello")]


def speaking(machine: TurnMachine, now: float = 10.0) -> int:
    """Drive one spoken turn until the bot speaks; returns its id."""
    machine.handle(SpeechStart(100, now - 3))
    machine.handle(SpeechEnd(1500))
    turn = machine.turn_id
    machine.handle(BotAudio(turn, now))
    return turn


def test_spoken_turn_opens_then_ends_the_stream() -> None:
    machine = TurnMachine()
    assert machine.handle(SpeechStart(240, 1.0)) == [Emit(SpeechStarted(turn_id=1, offset_ms=240)), OpenStream(1)]
    assert machine.phase is Phase.LISTENING and machine.accepts(1)
    assert machine.handle(SpeechEnd(1800)) == [Emit(SpeechEnded(turn_id=1, offset_ms=1800)), EndStream(1)]
    assert machine.phase is Phase.THINKING
    machine.handle(BotAudio(1, 2.0))
    assert machine.phase is Phase.SPEAKING
    machine.handle(TurnDone(1))
    assert machine.phase is Phase.IDLE and not machine.accepts(1)


def test_a_turn_failing_while_the_user_speaks_listens_again_at_once() -> None:
    """The CX stream fails mid-utterance: the session reports the turn done before `error{1}` goes out; the rest of
    the utterance is not a turn (its end changes nothing), nothing of turn 1 follows, the next speech is turn 2."""
    machine = TurnMachine()
    machine.handle(SpeechStart(100, 1.0))
    assert machine.handle(TurnDone(1)) == []
    assert machine.phase is Phase.IDLE and not machine.accepts(1)
    assert machine.handle(Tick(1.5)) == []
    assert machine.handle(SpeechEnd(2500)) == []  # the failed utterance's end: no speech_ended{1}
    assert machine.handle(StreamEnd(1, 2400)) == []  # a late report of the failed stream
    assert machine.handle(SpeechStart(4000, 5.0)) == [Emit(SpeechStarted(turn_id=2, offset_ms=4000)), OpenStream(2)]
    assert machine.handle(BargeIn()) == []  # no interrupted{1}, ever


def test_turn_ids_continue_from_the_claim() -> None:
    machine = TurnMachine(last_turn_id=7)
    assert machine.handle(SpeechStart(0, 0.0))[1] == OpenStream(8)


def test_client_barge_in_interrupts_and_silences_the_turn() -> None:
    machine = TurnMachine()
    turn = speaking(machine)
    assert machine.handle(BargeIn()) == [Cancel(turn), Emit(Interrupted(turn_id=turn))]
    assert not machine.accepts(turn)
    assert machine.handle(BargeIn()) == []


def test_barge_in_while_listening_or_idle_does_nothing() -> None:
    machine = TurnMachine()
    assert machine.handle(BargeIn()) == []
    machine.handle(SpeechStart(0, 0.0))
    assert machine.handle(BargeIn()) == []
    assert machine.accepts(1)


def test_speech_over_the_answer_pauses_it_and_listens_to_a_candidate() -> None:
    machine = TurnMachine(rules=RULES)
    turn = speaking(machine, now=10.0)
    assert machine.handle(SpeechStart(5000, 10.5)) == [Emit(Paused(turn_id=turn)), OpenStream(turn + 1)]
    assert machine.phase is Phase.PAUSED and machine.candidate == turn + 1
    assert machine.holds(turn) and machine.holds(turn + 1)
    assert machine.accepts(turn) and not machine.accepts(turn + 1)


def test_words_of_the_candidate_confirm_the_interruption() -> None:
    machine = TurnMachine(rules=RULES)
    turn = speaking(machine, now=10.0)
    machine.handle(SpeechStart(5000, 10.5))
    assert machine.handle(Words(turn + 1)) == [
        Cancel(turn),
        Emit(Interrupted(turn_id=turn)),
        Emit(SpeechStarted(turn_id=turn + 1, offset_ms=5000)),
    ]
    assert machine.phase is Phase.LISTENING and machine.accepts(turn + 1) and not machine.holds(turn + 1)
    assert machine.handle(SpeechEnd(6000)) == [Emit(SpeechEnded(turn_id=turn + 1, offset_ms=6000)), EndStream(turn + 1)]


def test_speech_that_lasted_confirms_at_its_end() -> None:
    machine = TurnMachine(rules=RULES)
    turn = speaking(machine, now=10.0)
    machine.handle(SpeechStart(5000, 10.5))
    assert machine.handle(SpeechEnd(5600)) == [
        Cancel(turn),
        Emit(Interrupted(turn_id=turn)),
        Emit(SpeechStarted(turn_id=turn + 1, offset_ms=5000)),
        Emit(SpeechEnded(turn_id=turn + 1, offset_ms=5600)),
        EndStream(turn + 1),
    ]
    assert machine.phase is Phase.THINKING


def test_short_speech_is_taken_back_and_the_next_turn_reuses_the_id() -> None:
    machine = TurnMachine(rules=RULES)
    turn = speaking(machine, now=10.0)
    machine.handle(SpeechStart(5000, 10.5))
    assert machine.handle(SpeechEnd(5590)) == [Cancel(turn + 1), Emit(Resumed(turn_id=turn))]
    assert machine.phase is Phase.SPEAKING and machine.accepts(turn) and not machine.holds(turn)
    machine.handle(TurnDone(turn))
    assert machine.handle(SpeechStart(9000, 20.0))[0] == Emit(SpeechStarted(turn_id=turn + 1, offset_ms=9000))


def test_an_undecided_pause_is_taken_back_at_the_timeout() -> None:
    machine = TurnMachine(rules=RULES)
    turn = speaking(machine, now=10.0)
    machine.handle(SpeechStart(5000, 10.5))
    assert machine.handle(Tick(11.99)) == []
    assert machine.handle(Tick(12.0)) == [Cancel(turn + 1), Emit(Resumed(turn_id=turn))]
    assert machine.handle(SpeechEnd(9000)) == []  # the long noise ends later: the answer plays on
    assert machine.phase is Phase.SPEAKING


def test_client_barge_in_during_a_pause_confirms_at_once() -> None:
    machine = TurnMachine(rules=RULES)
    turn = speaking(machine, now=10.0)
    machine.handle(SpeechStart(5000, 10.5))
    assert machine.handle(BargeIn())[:2] == [Cancel(turn), Emit(Interrupted(turn_id=turn))]
    assert machine.phase is Phase.LISTENING and machine.turn_id == turn + 1


def test_text_during_a_pause_drops_the_candidate() -> None:
    machine = TurnMachine(rules=RULES)
    turn = speaking(machine, now=10.0)
    machine.handle(SpeechStart(5000, 10.5))
    assert machine.handle(Text("hi")) == [
        Cancel(turn),
        Emit(Interrupted(turn_id=turn)),
        Cancel(turn + 1),
        StartText(turn + 1, "hi"),
    ]


def test_speech_inside_the_echo_guard_is_held_then_pauses_if_it_lasts() -> None:
    machine = TurnMachine(rules=RULES)
    turn = speaking(machine, now=10.0)
    assert machine.handle(SpeechStart(5000, 10.1)) == []
    assert machine.handle(Tick(10.2)) == []
    assert machine.handle(Tick(10.31)) == [Emit(Paused(turn_id=turn)), OpenStream(turn + 1)]
    assert machine.handle(Words(turn + 1))[2] == Emit(SpeechStarted(turn_id=turn + 1, offset_ms=5000))


def test_echo_that_ends_inside_the_guard_is_ignored() -> None:
    machine = TurnMachine(rules=RULES)
    turn = speaking(machine, now=10.0)
    assert machine.handle(SpeechStart(5000, 10.05)) == []
    assert machine.handle(SpeechEnd(5200)) == []
    assert machine.handle(Tick(11.0)) == []
    assert machine.accepts(turn) and machine.phase is Phase.SPEAKING


def test_end_of_utterance_from_the_agent_ends_the_stream_once() -> None:
    machine = TurnMachine()
    machine.handle(SpeechStart(0, 0.0))
    assert machine.handle(StreamEnd(1, 900)) == [Emit(SpeechEnded(turn_id=1, offset_ms=900)), EndStream(1)]
    assert machine.handle(SpeechEnd(1000)) == []
    assert machine.handle(StreamEnd(0, 900)) == []


def test_text_input_interrupts_a_running_turn_and_starts_its_own() -> None:
    machine = TurnMachine()
    turn = speaking(machine)
    assert machine.handle(Text("hello")) == [
        Cancel(turn),
        Emit(Interrupted(turn_id=turn)),
        StartText(turn + 1, "hello"),
    ]
    assert machine.phase is Phase.THINKING


def test_late_reports_of_an_old_turn_change_nothing() -> None:
    machine = TurnMachine()
    turn = speaking(machine)
    machine.handle(BargeIn())
    machine.handle(SpeechStart(0, 20.0))
    assert machine.handle(TurnDone(turn)) == []
    assert machine.handle(BotAudio(turn, 21.0)) == []
    assert machine.phase is Phase.LISTENING


@pytest.mark.parametrize("phase", [Phase.HELD, Phase.PAUSED])
def test_a_hand_over_interrupts_the_answer_and_passes_the_speech_over_it_on(phase: Phase) -> None:
    machine = machine_in(phase)
    speech = HELD_OFFSET if phase is Phase.HELD else PAUSE_OFFSET
    actions = machine.handle(HandOver())
    assert actions[:2] == [Cancel(5), Emit(Interrupted(turn_id=5))] and actions[-1] == PassSpeech(speech)
    assert (machine.phase, machine.turn_id, machine.candidate) == (Phase.IDLE, 5, None)
    assert not machine.accepts(5) and not machine.accepts(6)
    assert machine.handle(SpeechEnd(OFFSET)) == []  # the speech's end is the new owner's too


@pytest.mark.parametrize("phase", [Phase.IDLE, Phase.LISTENING, Phase.THINKING, Phase.SPEAKING])
def test_a_hand_over_lets_the_running_turn_finish(phase: Phase) -> None:
    machine = machine_in(phase)
    assert machine.handle(HandOver()) == [] and machine.phase is phase
