"""Per-session voice activity detection: an engine's per-frame decisions, smoothed into speech events.

Bus frames are 20 ms at 16 kHz (docs/protocol.md); each engine re-cuts them into its own frame (webrtcvad: 10, 20
or 30 ms; Silero: 32 ms windows) and keeps the audio time of each. `webrtc` decides inside `feed`; `silero`
streams hand their windows to a `SileroPool`, alone here (`SileroDetector`) or batched with other sessions' by
the worker (vad_worker/batcher.py). Both feed the same smoother (vad_worker/smoother.py).
"""

from typing import Protocol

import numpy as np
import webrtcvad

from shared.audio import INTERNAL_RATE, FrameCutter, frame_time_ms
from vad_worker.silero import WINDOW_MS, SileroPool, to_window
from vad_worker.smoother import Smoother, SmootherEvent

_BYTES_PER_MS = INTERNAL_RATE // 1000 * 2


class Detector(Protocol):
    smoother: Smoother

    def feed(self, seq: int, pcm: bytes) -> list[SmootherEvent]:
        """Classify one bus frame (sequence `seq`, audio time `frame_time_ms(seq)`); the events it completes."""
        ...


class TimedCutter:
    """Re-cuts bus frames into engine frames of `frame_ms`, each with its start in audio time."""

    __slots__ = ("_cutter", "frame_ms")

    def __init__(self, frame_ms: int) -> None:
        self.frame_ms = frame_ms
        self._cutter = FrameCutter(frame_ms * _BYTES_PER_MS)

    def cut(self, seq: int, pcm: bytes) -> list[tuple[int, bytes]]:
        offset = frame_time_ms(seq) - self._cutter.pending_bytes // _BYTES_PER_MS
        step = self.frame_ms
        return [(offset + index * step, frame) for index, frame in enumerate(self._cutter.push(pcm))]


class WebrtcDetector:
    """webrtcvad's decision on each 10/20/30 ms frame."""

    __slots__ = ("_cutter", "_vad", "smoother")

    def __init__(self, aggressiveness: int, frame_ms: int, smoother: Smoother) -> None:
        if frame_ms not in (10, 20, 30):
            raise ValueError("webrtcvad frames are 10, 20 or 30 ms")
        self._vad = webrtcvad.Vad(aggressiveness)
        self._cutter = TimedCutter(frame_ms)
        self.smoother = smoother

    def feed(self, seq: int, pcm: bytes) -> list[SmootherEvent]:
        events: list[SmootherEvent] = []
        for offset, frame in self._cutter.cut(seq, pcm):
            event = self.smoother.push(self._vad.is_speech(frame, INTERNAL_RATE), offset)
            if event is not None:
                events.append(event)
        return events


class SileroStream:
    """One session's Silero side: its 32 ms windows, its slot in the pool, the threshold and the smoother."""

    __slots__ = ("_cutter", "pool", "slot", "smoother", "threshold")

    def __init__(self, pool: SileroPool, threshold: float, smoother: Smoother) -> None:
        self.pool = pool
        self.slot = pool.acquire()
        self.threshold = threshold
        self.smoother = smoother
        self._cutter = TimedCutter(WINDOW_MS)

    def windows(self, seq: int, pcm: bytes) -> list[tuple[int, bytes]]:
        return self._cutter.cut(seq, pcm)

    def decide(self, probability: float, offset_ms: int) -> SmootherEvent | None:
        return self.smoother.push(probability >= self.threshold, offset_ms)

    def close(self) -> None:
        self.pool.release(self.slot)


class SileroDetector:
    """A Silero stream run on its own, window by window (replicas in benchmarks, the noise evaluation, tests)."""

    __slots__ = ("_slots", "smoother", "stream")

    def __init__(self, stream: SileroStream) -> None:
        self.stream = stream
        self.smoother = stream.smoother
        self._slots = np.array([stream.slot], dtype=np.intp)

    def feed(self, seq: int, pcm: bytes) -> list[SmootherEvent]:
        events: list[SmootherEvent] = []
        stream = self.stream
        for offset, window in stream.windows(seq, pcm):
            probability = float(stream.pool.infer(self._slots, to_window(window)[None, :])[0])
            event = stream.decide(probability, offset)
            if event is not None:
                events.append(event)
        return events
