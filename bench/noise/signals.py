"""Synthetic noises at 16 kHz, float32 in [-1, 1], each from a seeded `numpy.random.Generator` (same seed, same
samples): steady backgrounds (pink, babble, street) and noise-only events heard over the bot (cough, door slam,
music, keyboard clicks, crowd). Babble and crowd are espeak-ng voices (`local_agent.tts`), other voices and
pitches than any request. Used by bench/noise/corpus.py; what each sounds like is described in docs/benchmarks.md.
"""

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from local_agent.tts import synthesize

RATE = 16000
Audio = npt.NDArray[np.float32]
Generator = Callable[[np.random.Generator, float], Audio]


Gain = Callable[[npt.NDArray[np.float64]], npt.NDArray[np.float64]]


def _shaped(rng: np.random.Generator, samples: int, gain: Gain) -> Audio:
    """White noise shaped in frequency by `gain(freqs_hz)`, scaled to unit RMS."""
    spectrum = np.fft.rfft(rng.standard_normal(samples))
    freqs = np.fft.rfftfreq(samples, 1 / RATE).astype(np.float64)
    shaped = np.fft.irfft(spectrum * gain(freqs), samples)
    return _unit(shaped)


def _unit(audio: npt.NDArray[np.floating[Any]]) -> Audio:
    """`audio` scaled to unit RMS, as float32."""
    scaled: Audio = (audio / (np.sqrt(np.mean(audio**2)) + 1e-12)).astype(np.float32)
    return scaled


def _n(seconds: float) -> int:
    return int(seconds * RATE)


def pink(rng: np.random.Generator, seconds: float) -> Audio:
    """1/f noise (equal energy per octave), above 20 Hz."""
    return _shaped(rng, _n(seconds), lambda f: np.where(f < 20, 0.0, 1 / np.sqrt(np.maximum(f, 20))))


def _tone(freq: float, seconds: float, harmonics: Sequence[float] = (1.0,)) -> Audio:
    t = np.arange(_n(seconds)) / RATE
    wave = sum(a * np.sin(2 * np.pi * freq * (k + 1) * t) for k, a in enumerate(harmonics))
    return np.asarray(wave, np.float32)


def _envelope(samples: int, attack_s: float, release_s: float) -> Audio:
    attack, release = max(1, _n(attack_s)), max(1, _n(release_s))
    env = np.ones(samples, np.float32)
    env[:attack] = np.linspace(0, 1, min(attack, samples), dtype=np.float32)[:samples]
    tail = min(release, samples)
    env[-tail:] *= np.linspace(1, 0, tail, dtype=np.float32)
    return env


def _place(track: Audio, sound: Audio, at: int) -> None:
    end = min(track.size, at + sound.size)
    if at < end:
        track[at:end] += sound[: end - at]


def street(rng: np.random.Generator, seconds: float) -> Audio:
    """Low rumble (brown noise below ~400 Hz), vehicles passing (band noise swelling over seconds), horns."""
    samples = _n(seconds)
    rumble = _shaped(rng, samples, lambda f: np.where(f < 15, 0.0, 1 / np.maximum(f, 15)) / (1 + (f / 400) ** 4))
    track = rumble.copy()
    t = 0.0
    while t < seconds:
        length = rng.uniform(2.5, 6.0)
        swell = _shaped(rng, _n(length), lambda f: 1 / (1 + ((f - 600) / 500) ** 2))
        shape = np.exp(-0.5 * ((np.linspace(-1, 1, swell.size)) / 0.35) ** 2).astype(np.float32)
        _place(track, swell * shape * rng.uniform(0.8, 2.0), _n(t))
        t += rng.uniform(1.5, 5.0)
    for _ in range(int(seconds / 8) + 1):
        length = rng.uniform(0.25, 0.8)
        horn = _tone(rng.uniform(350, 480), length, (1.0, 0.6, 0.4, 0.25)) * _envelope(_n(length), 0.02, 0.05)
        _place(track, horn * rng.uniform(0.6, 1.2), int(rng.integers(0, samples)))
    return track


def speakers(
    rng: np.random.Generator, seconds: float, voices: Sequence[str], texts: Sequence[str], count: int
) -> Audio:
    """`count` overlapping talkers, each a voice at its own pitch and rate, reading texts back to back."""
    track = np.zeros(_n(seconds), np.float32)
    for index in range(count):
        voice = voices[index % len(voices)]
        pitch, words = int(rng.integers(25, 80)), int(rng.integers(140, 190))
        at = int(rng.integers(0, RATE))
        while at < track.size:
            text = texts[int(rng.integers(0, len(texts)))]
            said = synthesize(text, RATE, voice, words_per_minute=words, pitch=pitch).astype(np.float32) / 32768
            _place(track, (said * rng.uniform(0.6, 1.0)).astype(np.float32), at)
            at += said.size + int(rng.integers(RATE // 20, RATE // 3))
    return track


def cough(rng: np.random.Generator, seconds: float) -> Audio:
    """Coughs now and then: bursts of band noise (300-3000 Hz) with a sharp attack, sometimes two in a row."""
    track = np.zeros(_n(seconds), np.float32)
    at = _n(rng.uniform(0.2, 1.0))
    while at < track.size:
        for _ in range(int(rng.integers(1, 3))):
            length = rng.uniform(0.15, 0.35)
            burst = _shaped(rng, _n(length), lambda f: ((f > 300) & (f < 3000)).astype(np.float64))
            decay = np.exp(-np.arange(burst.size) / (burst.size / 4)).astype(np.float32)
            _place(track, burst * decay * _envelope(burst.size, 0.01, 0.02) * 2.5, at)
            at += burst.size + _n(rng.uniform(0.05, 0.15))
        at += _n(rng.uniform(1.5, 4.0))
    return track


def door(rng: np.random.Generator, seconds: float) -> Audio:
    """Door slams: a broadband crack, a low thump (60-120 Hz) ringing down, and a short rattle."""
    track = np.zeros(_n(seconds), np.float32)
    at = _n(rng.uniform(0.3, 1.5))
    while at < track.size:
        crack = _shaped(rng, _n(0.03), lambda f: np.ones_like(f)) * 3
        ring = _n(0.6)
        thump = _tone(rng.uniform(60, 120), 0.6, (1.0, 0.5)) * np.exp(-np.arange(ring) / (ring / 6)).astype(np.float32)
        rattle = _shaped(rng, _n(0.25), lambda f: 1 / (1 + ((f - 2000) / 800) ** 2))
        rattle *= np.exp(-np.arange(rattle.size) / (rattle.size / 3)).astype(np.float32)
        _place(track, crack, at)
        _place(track, thump * 3, at)
        _place(track, rattle, at + _n(0.05))
        at += _n(rng.uniform(2.5, 5.0))
    return track


def music(rng: np.random.Generator, seconds: float) -> Audio:
    """Music: chords of harmonic tones changing every beat pair, a melody note per beat, a kick drum."""
    track = np.zeros(_n(seconds), np.float32)
    beat = rng.uniform(0.4, 0.6)
    roots = 110 * 2 ** (rng.integers(0, 12, size=8) / 12)
    t, index = 0.0, 0
    while t < seconds:
        root = roots[index // 2 % roots.size]
        for ratio in (1.0, 1.26, 1.5):
            _place(track, _tone(root * ratio, beat, (0.5, 0.25, 0.12)) * _envelope(_n(beat), 0.01, 0.1), _n(t))
        note = root * 4 * 2 ** (int(rng.integers(0, 8)) / 12)
        _place(track, _tone(note, beat * 0.9, (0.7, 0.2)) * _envelope(_n(beat * 0.9), 0.005, 0.2), _n(t))
        kick = _tone(55, 0.15) * np.exp(-np.arange(_n(0.15)) / _n(0.04)).astype(np.float32) * 2
        _place(track, kick, _n(t))
        t += beat
        index += 1
    return track


def keyboard(rng: np.random.Generator, seconds: float) -> Audio:
    """Typing: 4-12 key clicks a second, each a few ms of bright noise, with pauses between bursts of typing."""
    track = np.zeros(_n(seconds), np.float32)
    at = 0
    while at < track.size:
        for _ in range(int(rng.integers(5, 30))):
            click = _shaped(rng, _n(0.008), lambda f: (f > 1500).astype(np.float64))
            click *= np.exp(-np.arange(click.size) / (click.size / 3)).astype(np.float32) * rng.uniform(1.5, 4.0)
            _place(track, click, at)
            at += _n(rng.uniform(0.08, 0.25))
        at += _n(rng.uniform(0.3, 1.5))
    return track


def _distant(audio: Audio, corner_hz: float) -> Audio:
    """Low-passed (a talker across the room loses the highs), scaled to unit RMS."""
    freqs = np.fft.rfftfreq(audio.size, 1 / RATE)
    return _unit(np.fft.irfft(np.fft.rfft(audio) / (1 + (freqs / corner_hz) ** 2), audio.size))


def babble(rng: np.random.Generator, seconds: float, voices: Sequence[str], texts: Sequence[str]) -> Audio:
    """Babble: six talkers a few metres away, all at once (a cafe, a bus)."""
    return _distant(speakers(rng, seconds, voices, texts, count=6), 3000)


def crowd(rng: np.random.Generator, seconds: float, voices: Sequence[str], texts: Sequence[str]) -> Audio:
    """A crowd: ten distant talkers over a pink floor."""
    floor: Audio = 0.3 * pink(rng, seconds)
    return _distant(speakers(rng, seconds, voices, texts, count=10), 2000) + floor


def rms(audio: Audio) -> float:
    return float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) + 1e-12
