"""The audio every benchmark session speaks: one real espeak-ng utterance in 20 ms frames, with its VAD marks.

The VAD worker is deterministic, so running the same detector over the clip here tells which frame completes its
start window (`start_frame`: `speech_started` is due once it is sent) and which frame completes the end-of-speech
silence (`end_frame`: `speech_ended` is due, and the turn begins).
"""

from dataclasses import dataclass

import numpy as np

from harness.speech import utterance
from shared.audio import FRAME_BYTES, array_to_pcm
from shared.settings import VadSettings, load_settings
from vad_worker.smoother import SpeechEnd, SpeechStart
from vad_worker.worker import make_detector

TEXT = "show me running shoes"
VOICE = "en-us+f2"
SILENCE = bytes(FRAME_BYTES)


@dataclass(frozen=True)
class Script:
    frames: tuple[bytes, ...]
    speech_frame: int  # first frame with audible speech: what a shopper's barge-in starts with
    start_frame: int  # the frame after which the VAD reports speech_started
    end_frame: int  # the frame after which the VAD reports speech_ended

    @property
    def seconds(self) -> float:
        return len(self.frames) * 0.02


def vad_marks(frames: tuple[bytes, ...]) -> tuple[int, int]:
    """Indices of the frames at which the worker's detector emits SpeechStart and SpeechEnd."""
    detector = make_detector(load_settings(VadSettings, {}))
    start = end = -1
    for index, frame in enumerate(frames):
        for event in detector.feed(index, frame):
            if isinstance(event, SpeechStart) and start < 0:
                start = index
            elif isinstance(event, SpeechEnd) and end < 0:
                end = index
    if not 0 <= start < end:
        raise ValueError("the benchmark utterance must contain one speech start and end")
    return start, end


def build(text: str = TEXT, voice: str = VOICE) -> Script:
    samples = utterance(text, voice=voice, lead_ms=300, tail_ms=700)
    pcm = array_to_pcm(samples)
    frames = tuple(pcm[i : i + FRAME_BYTES] for i in range(0, len(pcm) - FRAME_BYTES + 1, FRAME_BYTES))
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > 300)
    start, end = vad_marks(frames)
    return Script(frames, int(loud[0]) // (FRAME_BYTES // 2), start, end)
