"""The turn and barge-in state machine: every cell of its transition table, then whole scenarios event by event."""

import itertools

import pytest

from dialog_worker.turns import (
    TRANSITIONS,
    Action,
    BargeIn,
    BotAudio,
    Cancel,
    Effect,
    Emit,
    EndStream,
    Input,
    OpenStream,
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
    TurnMachine,
    TurnMachineMisuse,
)
from shared.protocol import Interrupted, SpeechEnded, SpeechStarted

GUARD_S = 0.3
BOT_AUDIO_AT = 2.0
HELD_OFFSET = 1500
OFFSET = 3000


def machine_in(phase: Phase) -> TurnMachine:
    """A machine driven to `phase` through its ordinary path (turn 5 open unless IDLE; bot audio from 2.0 s)."""
    machine = TurnMachine(last_turn_id=4, echo_guard_s=GUARD_S)
    path: list[Input] = [
        SpeechStart(100, 1.0),
        SpeechEnd(900),
        BotAudio(5, BOT_AUDIO_AT),
        SpeechStart(HELD_OFFSET, 2.1),
    ]
    steps = {Phase.IDLE: 0, Phase.LISTENING: 1, Phase.THINKING: 2, Phase.SPEAKING: 3, Phase.HELD: 4}[phase]
    for event in path[:steps]:
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
        Trigger.BARGE_IN: BargeIn(),
        Trigger.TEXT: Text("hello"),
        Trigger.TICK: Tick(BOT_AUDIO_AT + 0.2),
        Trigger.GUARD_OVER: Tick(BOT_AUDIO_AT + GUARD_S + 0.01),
        Trigger.STREAM_END: StreamEnd(current, OFFSET),
        Trigger.BOT_AUDIO: BotAudio(current, BOT_AUDIO_AT + 0.2),
        Trigger.TURN_DONE: TurnDone(current),
        Trigger.STALE: TurnDone(current - 1),
    }
    return inputs[trigger]


# Triggers that only arise in some phases: the echo guard runs only while the bot speaks.
ONLY_IN = {Trigger.SPEECH_IN_GUARD: {Phase.SPEAKING, Phase.HELD}, Trigger.GUARD_OVER: {Phase.HELD}}
CELLS = [(p, t) for p, t in itertools.product(Phase, Trigger) if p in ONLY_IN.get(t, set(Phase))]


def expected_actions(effects: tuple[Effect, ...], turn: int, offset: int) -> list[Action]:
    actions: list[Action] = []
    for effect in effects:
        if effect is Effect.INTERRUPT:
            actions += [Cancel(turn), Emit(Interrupted(turn_id=turn))]
        elif effect in (Effect.OPEN, Effect.OPEN_HELD):
            turn += 1
            at = HELD_OFFSET if effect is Effect.OPEN_HELD else offset
            actions += [Emit(SpeechStarted(turn_id=turn, offset_ms=at)), OpenStream(turn)]
        elif effect is Effect.END:
            actions += [Emit(SpeechEnded(turn_id=turn, offset_ms=offset)), EndStream(turn)]
        elif effect is Effect.START_TEXT:
            turn += 1
            actions.append(StartText(turn, "hello"))
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
        assert actions == expected_actions(transition.effects, turn, OFFSET)
        assert machine.phase is transition.to


def test_the_table_rejects_only_reports_that_cannot_be_right() -> None:
    rejected = {(p, t) for p, t in CELLS if t not in TRANSITIONS[p]}
    assert rejected == {
        (Phase.LISTENING, Trigger.BOT_AUDIO),
        (Phase.SPEAKING, Trigger.BOT_AUDIO),
        (Phase.HELD, Trigger.BOT_AUDIO),
    }


def test_reports_of_a_turn_have_no_effect_but_the_phase() -> None:
    """`bot_audio_started` and `turn_done` are called synchronously: the table gives them no actions to carry out."""
    for row in TRANSITIONS.values():
        for trigger in (Trigger.BOT_AUDIO, Trigger.TURN_DONE):
            if trigger in row:
                assert set(row[trigger].effects) <= {Effect.BOT_AUDIO}


def test_a_report_of_a_turn_never_opened_is_our_bug() -> None:
    machine = machine_in(Phase.THINKING)
    with pytest.raises(TurnMachineMisuse):
        machine.handle(TurnDone(machine.turn_id + 1))


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


def test_speech_during_bot_audio_interrupts_and_starts_the_next_turn() -> None:
    machine = TurnMachine(echo_guard_s=0.3)
    turn = speaking(machine, now=10.0)
    assert machine.handle(SpeechStart(5000, 10.5)) == [
        Cancel(turn),
        Emit(Interrupted(turn_id=turn)),
        Emit(SpeechStarted(turn_id=turn + 1, offset_ms=5000)),
        OpenStream(turn + 1),
    ]
    assert machine.accepts(turn + 1) and not machine.accepts(turn)


def test_speech_inside_the_echo_guard_is_held_then_barges_in_if_it_lasts() -> None:
    machine = TurnMachine(echo_guard_s=0.3)
    turn = speaking(machine, now=10.0)
    assert machine.handle(SpeechStart(5000, 10.1)) == []
    assert machine.handle(Tick(10.2)) == []
    actions = machine.handle(Tick(10.31))
    assert actions[:2] == [Cancel(turn), Emit(Interrupted(turn_id=turn))]
    assert actions[2] == Emit(SpeechStarted(turn_id=turn + 1, offset_ms=5000))


def test_echo_that_ends_inside_the_guard_is_ignored() -> None:
    machine = TurnMachine(echo_guard_s=0.3)
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
