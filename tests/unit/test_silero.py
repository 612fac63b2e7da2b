"""The Silero engine (vad_worker/silero.py, detector.py, batcher.py) on real espeak-ng speech: per-stream state,
batched against sequential inference, 20 ms bus frames re-cut into 32 ms windows, resampled client audio."""

import asyncio

import numpy as np
import pytest

from harness.speech import speech_bounds_ms, utterance
from shared.audio import FRAME_BYTES, StreamResampler, array_to_pcm
from shared.settings import VadSettings, load_settings
from vad_worker.batcher import BatchedStream, Batcher
from vad_worker.detector import SileroDetector, SileroStream, TimedCutter
from vad_worker.silero import WINDOW_MS, SileroModel, SileroPool, to_window
from vad_worker.smoother import SmootherEvent, SpeechEnd, SpeechStart
from vad_worker.worker import make_silero_stream, make_smoother

SETTINGS = load_settings(VadSettings, {"VOICECHAT_VAD_ENGINE": "silero"})


@pytest.fixture(scope="module")
def model() -> SileroModel:
    return SileroModel()


def bus_frames(pcm: bytes) -> list[bytes]:
    return [pcm[i : i + FRAME_BYTES] for i in range(0, len(pcm) - FRAME_BYTES + 1, FRAME_BYTES)]


def speech(text: str, voice: str) -> bytes:
    return array_to_pcm(utterance(text, voice=voice, lead_ms=400, tail_ms=700))


def windows(pcm: bytes) -> list[bytes]:
    size = WINDOW_MS * 32
    return [pcm[i : i + size] for i in range(0, len(pcm) - size + 1, size)]


def probabilities(pool: SileroPool, slot: int, pcm: bytes) -> list[float]:
    slots = np.array([slot], dtype=np.intp)
    return [float(pool.infer(slots, to_window(w)[None, :])[0]) for w in windows(pcm)]


def stream(pool: SileroPool) -> SileroStream:
    return SileroStream(pool, SETTINGS.vad_silero_threshold, make_smoother(SETTINGS, WINDOW_MS, 64))


def test_a_stream_never_sees_another_streams_state(model: SileroModel) -> None:
    talk = speech("show me running shoes", "en+m3")
    other = speech("do you have blue jeans", "en-us+f2")[: len(talk)]
    other += bytes(len(talk) - len(other))
    alone = probabilities(SileroPool(model), 0, other)
    pool = SileroPool(model, capacity=2)
    a, b = pool.acquire(), pool.acquire()
    slots = np.array([a, b], dtype=np.intp)
    mixed = []
    for wa, wb in zip(windows(talk), windows(other), strict=True):
        mixed.append(float(pool.infer(slots, np.stack([to_window(wa), to_window(wb)]))[1]))
    assert max(probabilities(SileroPool(model), 0, talk)) > 0.9  # the talker really talked
    assert mixed == pytest.approx(alone, abs=1e-5)


def test_a_released_slot_starts_afresh_for_the_next_stream(model: SileroModel) -> None:
    pool = SileroPool(model, capacity=1)
    talk = speech("a pair of red sneakers", "en-us+f2")
    fresh = probabilities(pool, pool.acquire(), talk)
    slot = pool.acquire()  # grows: the first slot is still taken
    probabilities(pool, slot, talk[: len(talk) // 2])
    pool.release(slot)
    assert pool.acquire() == slot
    assert probabilities(pool, slot, talk) == pytest.approx(fresh, abs=1e-5)


def test_a_stream_appears_once_per_call(model: SileroModel) -> None:
    pool = SileroPool(model)
    slot = pool.acquire()
    with pytest.raises(ValueError):
        pool.infer(np.array([slot, slot], dtype=np.intp), np.zeros((2, 512), np.float32))


def test_batched_decisions_equal_each_stream_run_alone(model: SileroModel) -> None:
    clips = [
        speech("show me running shoes", "en+m3"),
        speech("do you have blue jeans", "en-us+f2"),
        bytes(FRAME_BYTES * 150),
        speech("find a cheap phone case", "en+f3"),
    ]
    expected = []
    for clip in clips:
        detector = SileroDetector(stream(SileroPool(model)))
        expected.append([e for i, f in enumerate(bus_frames(clip)) for e in detector.feed(i, f)])
    batcher = Batcher(SileroPool(model), wait_ms=0, max_batch=3)  # 4 streams: two calls per round
    got: list[list[SmootherEvent]] = [[] for _ in clips]
    streams = [BatchedStream(stream(batcher.pool), _no_sink) for _ in clips]
    frames = [bus_frames(clip) for clip in clips]
    burst = 5  # bus frames per stream between flushes: several windows pending per stream
    for start in range(0, max(map(len, frames)), burst):
        for batched, clip_frames in zip(streams, frames, strict=True):
            for seq in range(start, min(start + burst, len(clip_frames))):
                batcher.enqueue(batched, seq, clip_frames[seq])
        for batched, event in batcher.decide(batcher.take()):
            got[streams.index(batched)].append(event)
    assert got == expected
    assert [type(e) for e in expected[0]] == [SpeechStart, SpeechEnd]
    assert expected[2] == []


async def _no_sink(event: SmootherEvent) -> None:
    raise AssertionError(f"unexpected event {event}")


async def test_the_worker_batcher_delivers_each_sessions_events_to_its_own_sink(model: SileroModel) -> None:
    batcher = Batcher(SileroPool(model), wait_ms=5, max_batch=256)
    heard: dict[str, list[SmootherEvent]] = {"talker": [], "quiet": []}

    def sink(name: str) -> BatchedStream:
        async def deliver(event: SmootherEvent) -> None:
            heard[name].append(event)

        return BatchedStream(stream(batcher.pool), deliver)

    talker, quiet = sink("talker"), sink("quiet")
    gone = sink("quiet")
    talk = bus_frames(speech("show me running shoes", "en+m3"))
    for seq, frame in enumerate(talk):
        batcher.submit(talker, seq, frame)
        batcher.submit(quiet, seq, bytes(FRAME_BYTES))
        batcher.submit(gone, seq, frame)
        if seq == 3:
            gone.close()  # its pending windows are dropped, its slot may go to another stream
        if seq % 4 == 0:
            await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    assert [type(e) for e in heard["talker"]] == [SpeechStart, SpeechEnd]
    assert heard["quiet"] == []


def test_bus_frames_are_recut_into_32_ms_windows_with_their_audio_time() -> None:
    cutter = TimedCutter(WINDOW_MS)
    offsets = [offset for seq in range(8) for offset, _ in cutter.cut(seq, bytes(FRAME_BYTES))]
    assert offsets == [0, 32, 64, 96, 128]
    late = TimedCutter(WINDOW_MS)
    assert [o for o, _ in late.cut(50, bytes(FRAME_BYTES))] == []
    assert [o for o, _ in late.cut(51, bytes(FRAME_BYTES))] == [1000]


@pytest.mark.parametrize("rate", [8000, 16000, 48000])
def test_resampled_client_audio_starts_and_ends_at_the_true_boundaries(rate: int) -> None:
    samples = utterance("show me running shoes under fifty dollars", rate, voice="en-us+f2", lead_ms=600)
    start_ms, end_ms = speech_bounds_ms(samples, rate)
    resampler = StreamResampler(rate)
    frames = resampler.push(array_to_pcm(samples)) + resampler.flush()
    detector = SileroDetector(make_silero_stream(SETTINGS))
    events = [e for seq, frame in enumerate(frames) for e in detector.feed(seq, frame)]
    assert [type(e) for e in events] == [SpeechStart, SpeechEnd]
    assert abs(events[0].offset_ms - start_ms) <= 100
    assert abs(events[1].offset_ms - end_ms) <= 150
