"""The VAD alone over the noise set (bench/noise/corpus.py), per engine: the worker's own detector
(`vad_worker.worker.make_detector`) fed the clips as 20 ms bus frames, exactly as the worker sees them.

Speech start: a clip counts as detected when the first `SpeechStart` is decided (the bus frame that completes it
has been received) between the true onset and 200 ms after it; a start decided before the onset is a false start
on the lead noise. Latency is from the true onset to that decision. False starts: `SpeechStart` events per minute
of noise-only audio.
"""

from collections.abc import Mapping
from typing import Any

import numpy as np

from bench.noise.corpus import BACKGROUNDS, NOISE_ONLY, SNRS_DB, Clip, noise, to_pcm
from shared.audio import FRAME_BYTES, FRAME_MS
from shared.settings import VadSettings, load_settings
from vad_worker.smoother import SmootherEvent, SpeechEnd, SpeechStart
from vad_worker.worker import make_detector

DEADLINE_MS = 200.0


def detect(pcm: bytes, env: Mapping[str, str]) -> list[tuple[float, SmootherEvent]]:
    """Each event with the audio time (ms) at which it is decided: the end of the bus frame that completes it."""
    detector = make_detector(load_settings(VadSettings, env))
    decided: list[tuple[float, SmootherEvent]] = []
    for seq in range(len(pcm) // FRAME_BYTES):
        at = float((seq + 1) * FRAME_MS)
        decided.extend((at, event) for event in detector.feed(seq, pcm[seq * FRAME_BYTES : (seq + 1) * FRAME_BYTES]))
    return decided


def speech_starts(clips: list[Clip], env: Mapping[str, str]) -> dict[str, Any]:
    """Per background and SNR: detected within the deadline, detected at all, early (noise first), latencies."""
    table: dict[str, Any] = {}
    for name in BACKGROUNDS:
        for snr in SNRS_DB:
            chosen = [c for c in clips if c.noise == name and c.snr_db == snr]
            if chosen:
                table[f"{name}@{snr}dB"] = _starts(chosen, env)
    return table


def _starts(clips: list[Clip], env: Mapping[str, str]) -> dict[str, Any]:
    latencies, early, missed, within = [], 0, 0, 0
    for clip in clips:
        decided = [at for at, event in detect(to_pcm(clip.samples), env) if isinstance(event, SpeechStart)]
        if not decided or decided[0] > clip.offset_ms:
            missed += 1
        elif decided[0] < clip.onset_ms:
            early += 1
        else:
            latency = decided[0] - clip.onset_ms
            latencies.append(latency)
            within += int(latency <= DEADLINE_MS)
    values = np.array(latencies) if latencies else np.zeros(1)
    return {
        "clips": len(clips),
        "within_200ms": round(within / len(clips), 3),
        "detected": round(len(latencies) / len(clips), 3),
        "early": early,
        "missed": missed,
        "latency_ms_p50": round(float(np.percentile(values, 50)), 1) if latencies else None,
        "latency_ms_p90": round(float(np.percentile(values, 90)), 1) if latencies else None,
    }


def false_starts(split: str, seconds: float, env: Mapping[str, str]) -> dict[str, dict[str, float]]:
    """Per noise-only stream: `SpeechStart` events per minute, and the share of the time spent in "speech"."""
    figures = {}
    for name in NOISE_ONLY:
        events = detect(to_pcm(noise(name, split, seconds)), env)
        starts = [at for at, event in events if isinstance(event, SpeechStart)]
        ends = [at for at, event in events if isinstance(event, SpeechEnd)] + [seconds * 1000]
        in_speech = sum(end - start for start, end in zip(starts, ends, strict=False))
        figures[name] = {
            "per_minute": round(len(starts) * 60 / seconds, 2),
            "speech_share": round(in_speech / (seconds * 1000), 3),
        }
    return figures
