"""The VAD hysteresis smoother (vad_worker/smoother.py): its table walked row by row, frame patterns, invariants."""

import pytest

from vad_worker.smoother import TABLE, Guard, IllegalInput, Input, Phase, Smoother, SpeechEnd, SpeechStart


def feed(smoother: Smoother, pattern: str, start_ms: int = 0) -> list[tuple[int, object]]:
    """Push '1' (voiced) / '0' frames; return (frame index, event) pairs."""
    events: list[tuple[int, object]] = []
    for index, char in enumerate(pattern):
        event = smoother.push(char == "1", start_ms + index * smoother.frame_ms)
        if event is not None:
            events.append((index, event))
    return events


def make() -> Smoother:
    return Smoother(frame_ms=20, start_ms=100, start_window_ms=160, end_ms=200)


# How to bring a fresh smoother (20 ms frames, start 100 of 160 ms, end 200 ms) into each phase.
REACH = {Phase.SILENCE: "", Phase.ONSET: "1", Phase.SPEECH: "11111", Phase.TRAILING: "111110"}
# For guarded rules: frames that keep the smoother in the phase, after which the rule's input makes the guard hold.
GUARD_HOLDS = {
    (Phase.ONSET, Input.VOICED): ("111", SpeechStart(0)),
    (Phase.ONSET, Input.UNVOICED): ("0000000", None),
    (Phase.TRAILING, Input.UNVOICED): ("00000000", SpeechEnd(100)),
}


def reach(phase: Phase) -> tuple[Smoother, int]:
    """A smoother in `phase` and the audio time of its next frame."""
    smoother = make()
    feed(smoother, REACH[phase])
    assert smoother.phase is phase
    return smoother, len(REACH[phase]) * 20


def test_the_table_covers_every_phase_for_frame_inputs_and_no_phase_for_stale_ones() -> None:
    for phase in Phase:
        assert (phase, Input.VOICED) in TABLE and (phase, Input.UNVOICED) in TABLE
        assert (phase, Input.STALE) not in TABLE


@pytest.mark.parametrize(("phase", "given"), list(TABLE))
def test_each_rule_on_one_frame_that_does_not_reach_a_threshold(phase: Phase, given: Input) -> None:
    smoother, now = reach(phase)
    rule = TABLE[(phase, given)]
    assert smoother.step(given, now) is None
    assert smoother.phase is (rule.then if rule.when is Guard.ALWAYS else rule.otherwise)


@pytest.mark.parametrize(("phase", "given"), list(GUARD_HOLDS))
def test_each_guarded_rule_when_its_guard_holds(phase: Phase, given: Input) -> None:
    before, expected = GUARD_HOLDS[(phase, given)]
    smoother, now = reach(phase)
    feed(smoother, before, start_ms=now)
    assert smoother.phase is phase
    assert smoother.push(given is Input.VOICED, now + len(before) * 20) == expected
    assert smoother.phase is TABLE[(phase, given)].then


def test_one_frame_thresholds_take_the_guarded_exits_of_silence_and_speech() -> None:
    smoother = Smoother(frame_ms=20, start_ms=20, start_window_ms=20, end_ms=20)
    assert smoother.push(True, 0) == SpeechStart(0)
    assert smoother.phase is TABLE[(Phase.SILENCE, Input.VOICED)].then
    assert smoother.push(False, 20) == SpeechEnd(20)
    assert smoother.phase is TABLE[(Phase.SPEECH, Input.UNVOICED)].then


def test_every_guarded_rule_is_exercised() -> None:
    guarded = {key for key, rule in TABLE.items() if rule.when is not Guard.ALWAYS}
    assert guarded == set(GUARD_HOLDS) | {(Phase.SILENCE, Input.VOICED), (Phase.SPEECH, Input.UNVOICED)}


@pytest.mark.parametrize("phase", list(Phase))
def test_a_frame_not_after_the_last_is_reported_and_changes_nothing(phase: Phase) -> None:
    smoother, now = reach(phase)
    if not now:
        smoother.push(False, 0)
        now = 20
    last = now - 20
    assert smoother.push(True, last) == IllegalInput(phase, Input.STALE, last)
    assert smoother.push(False, last - 20) == IllegalInput(phase, Input.STALE, last - 20)
    assert smoother.phase is phase
    assert not isinstance(smoother.push(False, now), IllegalInput)


def test_start_needs_enough_voiced_frames_in_the_window() -> None:
    smoother = make()
    assert feed(smoother, "1111") == []
    assert smoother.phase is Phase.ONSET
    assert feed(smoother, "1", start_ms=80) == [(0, SpeechStart(0))]
    assert smoother.phase is Phase.SPEECH


def test_onset_falls_back_to_silence_once_the_window_has_no_voiced_frame() -> None:
    smoother = make()
    feed(smoother, "1" + "0" * 7)
    assert smoother.phase is Phase.ONSET
    feed(smoother, "0", start_ms=160)
    assert smoother.phase is Phase.SILENCE


def test_scattered_clicks_never_start_speech() -> None:
    assert feed(make(), "1000100010001000100010001000") == []


def test_start_reports_first_voiced_frame_of_the_window() -> None:
    events = feed(make(), "000001101111")
    assert events == [(10, SpeechStart(100))]


def test_end_after_enough_silence_reports_where_silence_began() -> None:
    smoother = make()
    events = feed(smoother, "11111" + "1100" + "11" + "0000000000")
    assert events[0] == (4, SpeechStart(0))
    assert events[1] == (20, SpeechEnd(220))
    assert smoother.phase is Phase.SILENCE


def test_short_pauses_inside_speech_do_not_end_it() -> None:
    events = feed(make(), "11111" + "0000" + "1" + "0000" + "1")
    assert [type(e) for _, e in events] == [SpeechStart]


def test_second_utterance_starts_again() -> None:
    events = feed(make(), "11111" + "0" * 10 + "11111")
    assert [type(e) for _, e in events] == [SpeechStart, SpeechEnd, SpeechStart]
    assert events[2] == (19, SpeechStart(300))


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError):
        Smoother(frame_ms=20, start_ms=200, start_window_ms=100, end_ms=200)
    with pytest.raises(ValueError):
        Smoother(frame_ms=0, start_ms=20, start_window_ms=100, end_ms=200)
