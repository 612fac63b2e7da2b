"""The VAD hysteresis smoother, driven frame by frame with audio time passed in."""

from vad_worker.smoother import Phase, Smoother, SpeechEnd, SpeechStart


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


def test_start_needs_enough_voiced_frames_in_the_window() -> None:
    smoother = make()
    assert feed(smoother, "1111") == []
    assert smoother.phase is Phase.SILENCE
    assert feed(smoother, "1", start_ms=80) == [(0, SpeechStart(0))]
    assert smoother.phase is Phase.SPEECH


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
