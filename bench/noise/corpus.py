"""The noise set: spoken requests mixed with pink, babble and street noise at 20, 10, 5 and 0 dB SNR, and
noise-only streams; regenerated from fixed seeds by anyone (docs/benchmarks.md, "Noise set").

Two splits with no voice, text or seed in common: `tune` (to choose thresholds: `python -m bench noise --tune`) and
`eval` (every reported figure). SNR is the RMS of the speech (from its first to its last loud sample) over the RMS
of the noise. Noise-only sounds are set to an active level (the RMS of their 20 ms frames within 30 dB of the
loudest) 5 dB below the speech level, so a cough is about as loud as a request said 5 dB over the noise.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np

from bench.noise import signals
from bench.noise.signals import RATE, Audio
from local_agent.tts import synthesize

SNRS_DB = (20, 10, 5, 0)
BACKGROUNDS = ("pink", "babble", "street")
EVENTS = ("cough", "door", "music", "keyboard", "crowd")
NOISE_ONLY = BACKGROUNDS + EVENTS
SPEECH_DBFS = -19.0  # espeak-ng's own level for these voices (-17 to -20 dBFS)
NOISE_ONLY_BELOW_SPEECH_DB = 5.0
LOUD = 300 / 32768  # a sample above this is speech (the clean synthetic signal has no other sound)
BACKGROUND_S = 90.0


@dataclass(frozen=True)
class Split:
    name: str
    voices: tuple[str, ...]
    texts: tuple[str, ...]
    babble_voices: tuple[str, ...]
    babble_texts: tuple[str, ...]
    seed: int


TUNE = Split(
    "tune",
    voices=("en+m3", "en-us+f2", "en+f3"),
    texts=(
        "show me running shoes",
        "do you have blue jeans in size thirty two",
        "find a cheap phone case",
        "what is the price of the red dress",
    ),
    babble_voices=("en+m1", "en+f5", "en-us+m2", "en+m6"),
    babble_texts=(
        "we went to the market early this morning",
        "the train was late again yesterday",
        "she said the weather would turn cold",
        "could you pass me the salt please",
    ),
    seed=11,
)
EVAL = Split(
    "eval",
    voices=("en-029+m2", "en-gb-scotland+f4", "en+m7", "en-gb-x-rp+m4", "en+f1"),
    texts=(
        "add two bags of coffee to my cart",
        "I am looking for a waterproof jacket",
        "are there any headphones under fifty dollars",
        "track my last order",
        "show me kitchen knives",
        "which laptops have the longest battery life",
    ),
    babble_voices=("en+m2", "en+f4", "en-us+m5", "en+m4"),
    babble_texts=(
        "my brother moved to another city last year",
        "the children played football until dark",
        "I think the meeting starts at ten",
        "there is a new bakery around the corner",
    ),
    seed=23,
)
SPLITS = {split.name: split for split in (TUNE, EVAL)}


@dataclass(frozen=True)
class Clip:
    noise: str
    snr_db: int
    voice: str
    text: str
    samples: Audio  # float32 at 16 kHz
    onset_ms: float  # first loud sample of the clean speech
    offset_ms: float  # last loud sample


def to_pcm(audio: Audio) -> bytes:
    return (np.clip(audio, -1.0, 32767 / 32768) * 32768).astype("<i2").tobytes()


def active_rms(audio: Audio) -> float:
    frames = audio[: audio.size // 320 * 320].reshape(-1, 320).astype(np.float64)
    energy = np.mean(frames**2, axis=1)
    loud = energy >= energy.max() * 1e-3
    return float(np.sqrt(np.mean(energy[loud]))) + 1e-12


def _level(audio: Audio, dbfs: float) -> Audio:
    return (audio * (10 ** (dbfs / 20) / active_rms(audio))).astype(np.float32)


def _generator(name: str, split: Split) -> Callable[[np.random.Generator, float], Audio]:
    talkers = {
        "babble": lambda rng, s: signals.babble(rng, s, split.babble_voices, split.babble_texts),
        "crowd": lambda rng, s: signals.crowd(rng, s, split.babble_voices, split.babble_texts),
    }
    if name in talkers:
        return talkers[name]
    generators: dict[str, Callable[[np.random.Generator, float], Audio]] = {
        "pink": signals.pink,
        "street": signals.street,
        "cough": signals.cough,
        "door": signals.door,
        "music": signals.music,
        "keyboard": signals.keyboard,
    }
    return generators[name]


@cache
def noise(name: str, split_name: str, seconds: float = BACKGROUND_S) -> Audio:
    """`seconds` of noise `name` for a split, at the noise-only level (deterministic)."""
    split = SPLITS[split_name]
    rng = np.random.default_rng([split.seed, NOISE_ONLY.index(name)])
    return _level(_generator(name, split)(rng, seconds), SPEECH_DBFS - NOISE_ONLY_BELOW_SPEECH_DB)


def speech_clips(split_name: str, per_condition: int) -> list[Clip]:
    """`per_condition` requests for each background and SNR, each with its own voice, text and noise segment."""
    split = SPLITS[split_name]
    rng = np.random.default_rng([split.seed, 1000])
    clips = []
    for noise_name in BACKGROUNDS:
        background = noise(noise_name, split_name)
        for snr in SNRS_DB:
            for index in range(per_condition):
                voice = split.voices[index % len(split.voices)]
                text = split.texts[int(rng.integers(0, len(split.texts)))]
                clips.append(mix(rng, background, noise_name, snr, voice, text))
    return clips


def mix(rng: np.random.Generator, background: Audio, name: str, snr: int, voice: str, text: str) -> Clip:
    speech = synthesize(text, RATE, voice).astype(np.float32) / 32768
    loud = np.flatnonzero(np.abs(speech) > LOUD)
    lead = int(rng.uniform(1.0, 2.0) * RATE)
    total = lead + speech.size + RATE
    start = int(rng.integers(0, background.size - total))
    segment = background[start : start + total].copy()
    speech_rms = float(np.sqrt(np.mean(speech[loud[0] : loud[-1] + 1].astype(np.float64) ** 2)))
    segment *= speech_rms / 10 ** (snr / 20) / signals.rms(segment)
    segment[lead : lead + speech.size] += speech
    return Clip(
        noise=name,
        snr_db=snr,
        voice=voice,
        text=text,
        samples=segment,
        onset_ms=(lead + loud[0]) * 1000 / RATE,
        offset_ms=(lead + loud[-1]) * 1000 / RATE,
    )
