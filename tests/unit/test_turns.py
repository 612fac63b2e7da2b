"""The turn and barge-in state machine, event by event."""

from dialog_worker.turns import Cancel, Emit, EndStream, OpenStream, Phase, StartText, TurnMachine
from shared.protocol import Interrupted, SpeechEnded, SpeechStarted


def speaking(machine: TurnMachine, now: float = 10.0) -> int:
    """Drive one spoken turn until the bot speaks; returns its id."""
    machine.speech_started(100, now - 3)
    machine.speech_ended(1500)
    turn = machine.turn_id
    machine.bot_audio_started(turn, now)
    return turn


def test_spoken_turn_opens_then_ends_the_stream() -> None:
    machine = TurnMachine()
    assert machine.speech_started(240, 1.0) == [Emit(SpeechStarted(turn_id=1, offset_ms=240)), OpenStream(1)]
    assert machine.phase is Phase.LISTENING and machine.accepts(1)
    assert machine.speech_ended(1800) == [Emit(SpeechEnded(turn_id=1, offset_ms=1800)), EndStream(1)]
    assert machine.phase is Phase.THINKING
    machine.bot_audio_started(1, 2.0)
    assert machine.phase is Phase.SPEAKING
    machine.turn_done(1)
    assert machine.phase is Phase.IDLE and not machine.accepts(1)


def test_turn_ids_continue_from_the_claim() -> None:
    machine = TurnMachine(last_turn_id=7)
    assert machine.speech_started(0, 0.0)[1] == OpenStream(8)


def test_client_barge_in_interrupts_and_silences_the_turn() -> None:
    machine = TurnMachine()
    turn = speaking(machine)
    assert machine.barge_in() == [Cancel(turn), Emit(Interrupted(turn_id=turn))]
    assert not machine.accepts(turn)
    assert machine.barge_in() == []


def test_barge_in_while_listening_or_idle_does_nothing() -> None:
    machine = TurnMachine()
    assert machine.barge_in() == []
    machine.speech_started(0, 0.0)
    assert machine.barge_in() == []
    assert machine.accepts(1)


def test_speech_during_bot_audio_interrupts_and_starts_the_next_turn() -> None:
    machine = TurnMachine(echo_guard_s=0.3)
    turn = speaking(machine, now=10.0)
    actions = machine.speech_started(5000, 10.5)
    assert actions == [
        Cancel(turn),
        Emit(Interrupted(turn_id=turn)),
        Emit(SpeechStarted(turn_id=turn + 1, offset_ms=5000)),
        OpenStream(turn + 1),
    ]
    assert machine.accepts(turn + 1) and not machine.accepts(turn)


def test_speech_inside_the_echo_guard_is_held_then_barges_in_if_it_lasts() -> None:
    machine = TurnMachine(echo_guard_s=0.3)
    turn = speaking(machine, now=10.0)
    assert machine.speech_started(5000, 10.1) == []
    assert machine.tick(10.2) == []
    actions = machine.tick(10.31)
    assert actions[:2] == [Cancel(turn), Emit(Interrupted(turn_id=turn))]
    assert actions[2] == Emit(SpeechStarted(turn_id=turn + 1, offset_ms=5000))


def test_echo_that_ends_inside_the_guard_is_ignored() -> None:
    machine = TurnMachine(echo_guard_s=0.3)
    turn = speaking(machine, now=10.0)
    assert machine.speech_started(5000, 10.05) == []
    assert machine.speech_ended(5200) == []
    assert machine.tick(11.0) == []
    assert machine.accepts(turn)


def test_end_of_utterance_from_the_agent_ends_the_stream_once() -> None:
    machine = TurnMachine()
    machine.speech_started(0, 0.0)
    assert machine.stream_ended(1, 900) == [Emit(SpeechEnded(turn_id=1, offset_ms=900)), EndStream(1)]
    assert machine.speech_ended(1000) == []
    assert machine.stream_ended(0, 900) == []


def test_text_input_interrupts_a_running_turn_and_starts_its_own() -> None:
    machine = TurnMachine()
    turn = speaking(machine)
    assert machine.text_input("hello") == [Cancel(turn), Emit(Interrupted(turn_id=turn)), StartText(turn + 1, "hello")]
    assert machine.phase is Phase.THINKING


def test_late_reports_of_an_old_turn_change_nothing() -> None:
    machine = TurnMachine()
    turn = speaking(machine)
    machine.barge_in()
    machine.speech_started(0, 20.0)
    machine.turn_done(turn)
    machine.bot_audio_started(turn, 21.0)
    assert machine.phase is Phase.LISTENING
