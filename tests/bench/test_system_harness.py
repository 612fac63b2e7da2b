"""The system benchmark's own logic: protocol order checking, histogram merging, and one session's driver."""

import pytest

from bench.system.driver import BARGE_IN, Mode, Recorder, SessionDriver, Window
from bench.system.hist import Histograms
from bench.system.order import OrderChecker
from bench.system.script import SILENCE, Script, build
from shared.settings import VadSettings, load_settings
from vad_worker.worker import make_detector


def test_order_checker_accepts_a_protocol_conform_session() -> None:
    checker = OrderChecker()
    events = [
        ("session_start", None, None),
        ("speech_started", 1, None),
        ("speech_ended", 1, None),
        ("audio_response", 1, 0),
        ("audio_response", 1, 1),
        ("interrupted", 1, None),
        ("speech_started", 2, None),
        ("speech_ended", 2, None),
        ("audio_response", 2, 0),
        ("audio_end", 2, None),
    ]
    for kind, turn, seq in events:
        checker.feed(kind, turn, seq)
    assert (checker.violations, checker.lost) == (0, 0)


def test_order_checker_counts_gaps_and_disorder() -> None:
    checker = OrderChecker()
    checker.feed("speech_ended", 1)  # before speech_started
    checker.feed("audio_response", 1, 0)
    checker.feed("audio_response", 1, 3)  # two chunks lost
    checker.feed("audio_response", 1, 2)  # goes back
    checker.feed("interrupted", 1)
    checker.feed("audio_response", 1, 4)  # after interrupted
    checker.feed("speech_started", 2)
    checker.feed("audio_end", 1)  # older turn
    assert (checker.violations, checker.lost) == (4, 2)


def test_histograms_merge_across_encodings() -> None:
    first, second = Histograms(), Histograms()
    for ms in range(1, 101):
        (first if ms % 2 else second).record("barge_in", ms / 1000)
    merged = Histograms()
    merged.add_encoded(first.encode())
    merged.add_encoded(second.encode())
    summary = merged.summary("barge_in")
    assert summary["count"] == 100
    assert 49.5 <= summary["p50_ms"] <= 50.5
    assert 98.5 <= summary["p99_ms"] <= 99.5
    assert merged.summary("barge_in", shift_ms=10)["p50_ms"] == summary["p50_ms"] - 10


@pytest.fixture(scope="module")
def script() -> Script:
    return build()


def _session(script: Script, rotation: tuple[Mode, ...]) -> tuple[SessionDriver, Recorder]:
    recorder = Recorder(Window(0.0, 1e9))
    return SessionDriver(
        script, make_detector(load_settings(VadSettings, {})), recorder, rotation, first_at=0.0
    ), recorder


def test_driver_measures_a_turn_and_a_message_barge_in(script: Script) -> None:
    driver, recorder = _session(script, (Mode.MESSAGE,))
    now, sent = 0.0, []
    for _ in script.frames:
        sent.append(driver.tick(now))
        if len(sent) - 1 == script.start_frame:
            driver.on_event("speech_started", now + 0.003)
        now += 0.02
    assert sent[0][0] == script.frames[0] and sent[script.speech_frame][0] != SILENCE
    driver.on_event("speech_ended", now)
    driver.on_event("audio_response", now + 0.01)
    frame, text = driver.tick(now + 0.5)
    assert (frame, text) == (SILENCE, BARGE_IN)
    driver.on_event("interrupted", now + 0.505)
    summaries = {name: recorder.histograms.summary(name) for name in ("frame_to_speech_started", "barge_in")}
    assert summaries["frame_to_speech_started"]["count"] == summaries["barge_in"]["count"] == 1
    assert 2.9 <= summaries["frame_to_speech_started"]["p50_ms"] <= 3.1
    assert 4.9 <= summaries["barge_in"]["p50_ms"] <= 5.1
    assert recorder.histograms.summary("turn_overhead_raw")["count"] == 1
    assert not recorder.counts


def test_driver_counts_a_missing_event_as_lost(script: Script) -> None:
    driver, recorder = _session(script, (Mode.COMPLETE,))
    now = 0.0
    for _ in range(len(script.frames) + 150):
        driver.tick(now)
        now += 0.02
    assert recorder.counts["lost_speech_started"] == 1
