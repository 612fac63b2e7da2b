"""Listening conditions: clean at 16 kHz, pink noise at 20 and 10 dB SNR, and the clean audio at 8 and 48 kHz.

Noise is generated per clip from a seed (same clip, same noise), scaled against the power of the speech itself
(samples above the silence threshold), and runs through the silence around the request as well.
"""

from dataclasses import dataclass

import numpy as np
import soxr

from shared.audio import Samples

RATE = 16000
LEAD_MS = 400
TAIL_MS = 1500
SPEECH_THRESHOLD = 300


@dataclass(frozen=True)
class Condition:
    name: str
    rate: int = RATE
    snr_db: float | None = None


CONDITIONS = (
    Condition("clean"),
    Condition("noise_20db", snr_db=20.0),
    Condition("noise_10db", snr_db=10.0),
    Condition("rate_8k", rate=8000),
    Condition("rate_48k", rate=48000),
)


@dataclass(frozen=True)
class Clip:
    samples: Samples  # int16 at `rate`
    rate: int
    speech_end_s: float  # true end of speech from the start of the clip


def pink_noise(count: int, seed: int) -> np.ndarray:
    """Unit-power pink (1/f) noise: white noise shaped by 1/sqrt(f) in the frequency domain."""
    spectrum = np.fft.rfft(np.random.default_rng(seed).standard_normal(count))
    spectrum /= np.sqrt(np.maximum(np.arange(spectrum.size), 1.0))
    noise = np.fft.irfft(spectrum, count)
    return np.asarray(noise / np.sqrt(np.mean(noise**2)))


def make_clip(speech: Samples, condition: Condition, seed: int) -> Clip:
    """`speech` (int16, 16 kHz) with silence around it, under `condition`."""
    lead = np.zeros(RATE * LEAD_MS // 1000)
    tail = np.zeros(RATE * TAIL_MS // 1000)
    signal = np.concatenate([lead, speech.astype(np.float64), tail])
    loud = np.flatnonzero(np.abs(signal) > SPEECH_THRESHOLD)
    speech_end_s = float(loud[-1] / RATE) if loud.size else 0.0
    if condition.snr_db is not None and loud.size:
        power = float(np.mean(signal[loud[0] : loud[-1] + 1] ** 2))
        scale = np.sqrt(power / 10 ** (condition.snr_db / 10))
        signal = signal + scale * pink_noise(signal.size, seed)
    if condition.rate != RATE:
        signal = soxr.resample(signal, RATE, condition.rate)
    return Clip(np.clip(signal, -32768, 32767).astype(np.int16), condition.rate, speech_end_s)
