"""espeak-ng text-to-speech through espeakng-loader (ctypes), LINEAR16 mono at any rate.

One global engine guarded by a lock: espeak-ng is not re-entrant. The ctypes callback is kept referenced for the
life of the process, or the library would call freed memory.
"""

import ctypes
import functools
import threading

import numpy as np
import soxr
from espeakng_loader import get_data_path, get_library_path

from shared.audio import Samples, array_to_pcm

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_PARAM_RATE = 1
_PARAM_PITCH = 3

_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class _Engine:
    def __init__(self) -> None:
        self.lib = ctypes.cdll.LoadLibrary(get_library_path())
        self.lib.espeak_Initialize.restype = ctypes.c_int
        data = get_data_path().encode()
        self.rate = int(self.lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data, 0))
        if self.rate <= 0:
            raise RuntimeError("espeak-ng failed to initialise")
        self._chunks: list[Samples] = []
        self._callback = _CALLBACK(self._collect)
        self.lib.espeak_SetSynthCallback(self._callback)
        self.lock = threading.Lock()

    def _collect(self, wav: "ctypes._Pointer[ctypes.c_short]", count: int, _events: int | None) -> int:
        if count > 0 and wav:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        return 0

    def synth(self, text: str, voice: str, words_per_minute: int, pitch: int) -> Samples:
        encoded = text.encode("utf-8") + b"\0"
        with self.lock:
            if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise ValueError(f"unknown espeak-ng voice: {voice}")
            self.lib.espeak_SetParameter(_PARAM_RATE, words_per_minute, 0)
            self.lib.espeak_SetParameter(_PARAM_PITCH, pitch, 0)
            self._chunks = []
            status = self.lib.espeak_Synth(encoded, len(encoded), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
            self.lib.espeak_Synchronize()
            chunks, self._chunks = self._chunks, []
        if status != 0:
            raise RuntimeError(f"espeak-ng synthesis failed ({status})")
        return np.concatenate(chunks) if chunks else np.zeros(0, np.int16)


_engine: _Engine | None = None
_engine_lock = threading.Lock()


def _get_engine() -> _Engine:
    global _engine
    with _engine_lock:
        if _engine is None:
            _engine = _Engine()
        return _engine


def synthesize(
    text: str, sample_rate: int = 16000, voice: str = "en-us", words_per_minute: int = 165, pitch: int = 50
) -> Samples:
    """Speak `text` and return int16 samples at `sample_rate`."""
    engine = _get_engine()
    samples = engine.synth(text, voice, words_per_minute, pitch)
    if sample_rate == engine.rate or samples.size == 0:
        return samples
    return np.asarray(soxr.resample(samples, engine.rate, sample_rate), dtype=np.int16)


@functools.lru_cache(maxsize=16)
def synthesize_cached(text: str, sample_rate: int, voice: str) -> bytes:
    """`synthesize_pcm`, remembered for the last few texts (greetings, fallbacks, the scripted answer)."""
    return synthesize_pcm(text, sample_rate, voice)


def synthesize_pcm(text: str, sample_rate: int = 16000, voice: str = "en-us") -> bytes:
    return array_to_pcm(synthesize(text, sample_rate, voice))
