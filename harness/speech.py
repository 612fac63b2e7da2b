"""Real speech for tests: espeak-ng audio (the local agent's TTS engine, other voices) with silence around it."""

import concurrent.futures
import multiprocessing

import numpy as np

from local_agent.tts import synthesize
from shared.audio import Samples, array_to_pcm

CHUNK_MS = 20


def utterance(text: str, rate: int = 16000, voice: str = "en+m3", lead_ms: int = 300, tail_ms: int = 900) -> Samples:
    """`text` spoken by espeak-ng `voice` between `lead_ms` and `tail_ms` of silence, int16 at `rate`."""
    lead = np.zeros(rate * lead_ms // 1000, np.int16)
    tail = np.zeros(rate * tail_ms // 1000, np.int16)
    return np.concatenate([lead, synthesize(text, rate, voice), tail])


def speech_pcm(
    text: str, rate: int = 16000, voice: str = "en-us+f2", lead_silence_ms: int = 300, tail_silence_ms: int = 800
) -> bytes:
    """Like `utterance`, as PCM16LE bytes."""
    return array_to_pcm(utterance(text, rate, voice, lead_silence_ms, tail_silence_ms))


def chunks(pcm: bytes, rate: int = 16000, chunk_ms: int = CHUNK_MS) -> list[bytes]:
    """Cut PCM16 audio into `chunk_ms` pieces (the last one may be short)."""
    size = rate * chunk_ms // 1000 * 2
    return [pcm[i : i + size] for i in range(0, len(pcm), size)]


def frames(samples: Samples, rate: int) -> list[bytes]:
    """20 ms client frames of `samples`."""
    return chunks(array_to_pcm(samples), rate)


def speech_bounds_ms(samples: Samples, rate: int, threshold: int = 300) -> tuple[float, float]:
    """True start and end of speech: first and last sample above `threshold` (the signal is synthetic and clean)."""
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > threshold)
    return float(loud[0] * 1000 / rate), float(loud[-1] * 1000 / rate)


def noise_burst(
    rate: int = 16000, burst_ms: int = 150, lead_ms: int = 300, tail_ms: int = 1500, seed: int = 7
) -> Samples:
    """A cough-like burst: white noise at about -8 dBFS for `burst_ms` between silences, loud enough for webrtcvad
    to call it speech, with no words in it for a recogniser to hear."""
    rng = np.random.default_rng(seed)
    burst = rng.standard_normal(rate * burst_ms // 1000)
    burst = burst / np.abs(burst).max() * 12000
    lead = np.zeros(rate * lead_ms // 1000)
    tail = np.zeros(rate * tail_ms // 1000)
    return np.concatenate([lead, burst, tail]).astype(np.int16)


def fresh_speech_pcm(text: str, voice: str, rate: int = 16000) -> bytes:
    """Like `speech_pcm`, from an espeak-ng engine that has spoken nothing before: the engine keeps state across
    utterances (a voice sounds slightly different after others have spoken), so accuracy floors that must not
    depend on what a test process synthesized earlier use this (one short-lived process per call)."""
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(speech_pcm, text, rate, voice).result()
