"""Per-session voice activity detection: webrtcvad decisions on fixed frames, smoothed into speech events."""

import webrtcvad

from shared.audio import INTERNAL_RATE, FrameCutter, frame_time_ms
from vad_worker.smoother import Smoother, SmootherEvent

_BYTES_PER_MS = INTERNAL_RATE // 1000 * 2


class SpeechDetector:
    """Consumes 20 ms bus frames (16 kHz), re-cut to the VAD frame length, and yields smoothed speech events."""

    __slots__ = ("_cutter", "_frame_ms", "_vad", "smoother")

    def __init__(self, aggressiveness: int, frame_ms: int, start_ms: int, start_window_ms: int, end_ms: int) -> None:
        if frame_ms not in (10, 20, 30):
            raise ValueError("webrtcvad frames are 10, 20 or 30 ms")
        self._vad = webrtcvad.Vad(aggressiveness)
        self._frame_ms = frame_ms
        self._cutter = FrameCutter(frame_ms * _BYTES_PER_MS)
        self.smoother = Smoother(frame_ms, start_ms, start_window_ms, end_ms)

    def feed(self, seq: int, pcm: bytes) -> list[SmootherEvent]:
        """Classify one bus frame (sequence `seq`, so audio time `frame_time_ms(seq)`)."""
        offset = frame_time_ms(seq) - self._cutter.pending_bytes // _BYTES_PER_MS
        events: list[SmootherEvent] = []
        for frame in self._cutter.push(pcm):
            event = self.smoother.push(self._vad.is_speech(frame, INTERNAL_RATE), offset)
            if event is not None:
                events.append(event)
            offset += self._frame_ms
        return events
