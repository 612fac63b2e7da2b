"""The system benchmark's own logic: protocol order checking, histogram merging, and one session's driver."""

import pytest

from bench.system.capacity import stage_split
from bench.system.driver import BARGE_DELAY_S, BARGE_IN, Mode, Recorder, SessionDriver, Window
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


def _session(script: Script, rotation: tuple[Mode, ...], vad_events: bool = True) -> tuple[SessionDriver, Recorder]:
    recorder = Recorder(Window(0.0, 1e9))
    detector = make_detector(load_settings(VadSettings, {}))
    return SessionDriver(script, detector, recorder, rotation, first_at=0.0, vad_events=vad_events), recorder


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


def _answered(driver: SessionDriver, script: Script) -> float:
    """Speak the script's utterance and get the answer's first audio; returns the time after it."""
    now = 0.0
    for index in range(len(script.frames)):
        driver.tick(now)
        if index == script.start_frame:
            driver.on_event("speech_started", now + 0.003)
        now += 0.02
    driver.on_event("speech_ended", now)
    driver.on_event("audio_response", now + 0.01)
    return now + 0.01


def _speak_over_the_answer(driver: SessionDriver, script: Script, now: float) -> float:
    """Ticks until the spoken barge-in's first audible frame is sent; returns when it was sent."""
    barge_at, clip_frames = now + BARGE_DELAY_S, 0
    while clip_frames <= script.speech_frame:
        driver.tick(now)
        clip_frames += now >= barge_at
        now += 0.02
    return now - 0.02


@pytest.mark.parametrize("confirmed", [True, False])
def test_a_spoken_barge_in_is_timed_to_the_pause_and_must_be_confirmed(script: Script, confirmed: bool) -> None:
    driver, recorder = _session(script, (Mode.SPOKEN,), vad_events=False)  # only the barge-in's events here
    spoke = _speak_over_the_answer(driver, script, _answered(driver, script))
    driver.on_event("paused", spoke + 0.03)
    now = spoke + 0.04
    if confirmed:
        driver.on_event("interrupted", spoke + 1.5)  # words heard: later than the pause
    for _ in range(400):  # 8 s: past the confirmation's deadline
        driver.tick(now)
        now += 0.02
    barge_in = recorder.histograms.summary("spoken_barge_in")
    assert barge_in["count"] == 1 and 29.0 <= barge_in["p50_ms"] <= 31.0
    assert recorder.counts["lost_interrupted"] == (0 if confirmed else 1)


def test_driver_counts_a_missing_event_as_lost(script: Script) -> None:
    driver, recorder = _session(script, (Mode.COMPLETE,))
    now = 0.0
    for _ in range(len(script.frames) + 150):
        driver.tick(now)
        now += 0.02
    assert recorder.counts["lost_speech_started"] == 1


def test_turn_overhead_is_split_into_stages_and_a_remainder() -> None:
    probe = {
        'voicechat_turn_stage_seconds_sum{stage="vad_end"}': 0.002,
        'voicechat_turn_stage_seconds_count{stage="vad_end"}': 2.0,
        'voicechat_turn_stage_seconds_sum{stage="recognition"}': 0.05,
        'voicechat_turn_stage_seconds_count{stage="recognition"}': 2.0,
    }
    split = stage_split(probe, overhead_raw_ms=40.0, agent_ms=20.0)
    assert split["stages_mean_ms"]["vad_end"] == 1.0 and split["stages_mean_ms"]["recognition"] == 25.0
    assert split["stages_mean_ms"]["tool_call"] is None  # never observed: no figure rather than zero
    assert split["remainder_ms"] == 14.0 and split["agent_ms_within"] == 20.0
    assert stage_split({}, overhead_raw_ms=None, agent_ms=0.0)["remainder_ms"] is None


def test_the_speech_start_of_a_barge_in_is_not_timed_as_frame_to_speech_started(script: Script) -> None:
    """It is held until the interruption is confirmed: `paused` is the barge-in's latency."""
    driver, recorder = _session(script, (Mode.SPOKEN,))
    spoke = _speak_over_the_answer(driver, script, _answered(driver, script))
    driver.on_event("paused", spoke + 0.03)
    for frame in range(1, 16):  # on past the frame where the VAD (the driver's replica of it) hears the start
        driver.tick(spoke + 0.02 * frame)
    assert script.start_frame - script.speech_frame < 15
    driver.on_event("interrupted", spoke + 0.5)
    driver.on_event("speech_started", spoke + 0.51)
    driver.tick(spoke + 0.52)
    assert recorder.histograms.summary("frame_to_speech_started")["count"] == 1  # the first utterance's only
    assert recorder.histograms.summary("spoken_barge_in")["count"] == 1
    assert "lost_speech_started" not in recorder.counts and "lost_interrupted" not in recorder.counts
