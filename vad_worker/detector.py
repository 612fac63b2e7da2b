"""Per-session voice activity detection: webrtcvad decisions on fixed frames, smoothed into speech events."""

import webrtcvad

from shared.audio import FRAME_MS, INTERNAL_RATE
from vad_worker.smoother import Smoother, SmootherEvent


class SpeechDetector:
    """Consumes 20 ms bus frames (16 kHz) and yields smoothed speech start/end events."""

    __slots__ = ("_sub_bytes", "_sub_ms", "_vad", "smoother")

    def __init__(self, aggressiveness: int, frame_ms: int, start_ms: int, start_window_ms: int, end_ms: int) -> None:
        if FRAME_MS % frame_ms:
            raise ValueError("the VAD frame length must divide the 20 ms bus frame")
        self._vad = webrtcvad.Vad(aggressiveness)
        self._sub_ms = frame_ms
        self._sub_bytes = INTERNAL_RATE * frame_ms // 1000 * 2
        self.smoother = Smoother(frame_ms, start_ms, start_window_ms, end_ms)

    def feed(self, seq: int, pcm: bytes) -> list[SmootherEvent]:
        """Classify one bus frame (sequence `seq`, so audio time `seq * 20 ms`)."""
        events: list[SmootherEvent] = []
        step = self._sub_bytes
        offset = seq * FRAME_MS
        for start in range(0, len(pcm) - step + 1, step):
            voiced = self._vad.is_speech(pcm[start : start + step], INTERNAL_RATE)
            event = self.smoother.push(voiced, offset)
            if event is not None:
                events.append(event)
            offset += self._sub_ms
        return events
