"""Pure hysteresis smoother over per-frame voice decisions (no I/O; audio time passed in).

Speech starts once `start_ms` of voiced frames fall within the last `start_window_ms`; the reported start is the
first voiced frame of that window. Speech ends after `end_ms` of consecutive unvoiced frames; the reported end is
where that silence began.
"""

from collections import deque
from dataclasses import dataclass
from enum import Enum


class Phase(Enum):
    SILENCE = "silence"
    SPEECH = "speech"


@dataclass(frozen=True, slots=True)
class SpeechStart:
    offset_ms: int


@dataclass(frozen=True, slots=True)
class SpeechEnd:
    offset_ms: int


SmootherEvent = SpeechStart | SpeechEnd


class Smoother:
    __slots__ = ("_silence_since", "_silent_ms", "_voiced_ms", "_window", "end_ms", "frame_ms", "phase", "start_ms")

    def __init__(self, frame_ms: int, start_ms: int, start_window_ms: int, end_ms: int) -> None:
        if not 0 < start_ms <= start_window_ms:
            raise ValueError("need 0 < start_ms <= start_window_ms")
        self.frame_ms = frame_ms
        self.start_ms = start_ms
        self.end_ms = end_ms
        self.phase = Phase.SILENCE
        self._window: deque[tuple[int, bool]] = deque(maxlen=max(1, start_window_ms // frame_ms))
        self._voiced_ms = 0
        self._silent_ms = 0
        self._silence_since = 0

    def push(self, voiced: bool, offset_ms: int) -> SmootherEvent | None:
        """Feed one frame's decision; `offset_ms` is the frame's start in audio time."""
        if self.phase is Phase.SILENCE:
            return self._in_silence(voiced, offset_ms)
        return self._in_speech(voiced, offset_ms)

    def _in_silence(self, voiced: bool, offset_ms: int) -> SmootherEvent | None:
        window = self._window
        if len(window) == window.maxlen and window[0][1]:
            self._voiced_ms -= self.frame_ms
        window.append((offset_ms, voiced))
        if voiced:
            self._voiced_ms += self.frame_ms
        if self._voiced_ms < self.start_ms:
            return None
        start = next(offset for offset, was_voiced in window if was_voiced)
        self.phase = Phase.SPEECH
        self._silent_ms = 0
        window.clear()
        self._voiced_ms = 0
        return SpeechStart(start)

    def _in_speech(self, voiced: bool, offset_ms: int) -> SmootherEvent | None:
        if voiced:
            self._silent_ms = 0
            return None
        if self._silent_ms == 0:
            self._silence_since = offset_ms
        self._silent_ms += self.frame_ms
        if self._silent_ms < self.end_ms:
            return None
        self.phase = Phase.SILENCE
        self._silent_ms = 0
        return SpeechEnd(self._silence_since)
