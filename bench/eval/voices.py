"""The evaluation's voices: espeak-ng variants (through espeakng-loader, the agent's own engine) and Debian's
`flite` (installed by .ci/run; `make eval` checks it is there). The agent speaks with plain `en-us` (its agent
file's `voice`): no voice here is that one."""

import shutil
import subprocess
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soxr

from local_agent import tts
from shared.audio import Samples

RATE = 16000


@dataclass(frozen=True)
class Voice:
    engine: str  # "espeak-ng" or "flite"
    name: str

    @property
    def label(self) -> str:
        return f"{self.engine}:{self.name}"


VOICES = (
    Voice("espeak-ng", "en+m7"),
    Voice("flite", "slt"),
    Voice("espeak-ng", "en-gb-x-rp+f3"),
    Voice("flite", "awb"),
    Voice("espeak-ng", "en-gb-scotland+m2"),
    Voice("flite", "rms"),
    Voice("espeak-ng", "en+f5"),
    Voice("flite", "kal"),
)


def flite_binary() -> str | None:
    return shutil.which("flite")


def speak(voice: Voice, text: str) -> Samples:
    """`text` in `voice`, int16 at 16 kHz."""
    if voice.engine == "espeak-ng":
        return tts.synthesize(text, RATE, voice.name)
    binary = flite_binary()
    if binary is None:
        raise RuntimeError("flite is not installed (Debian package `flite`; .ci/run installs it)")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "speech.wav"
        subprocess.run([binary, "-voice", voice.name, "-t", text, "-o", str(path)], check=True, timeout=30)
        with wave.open(str(path)) as handle:
            rate = handle.getframerate()
            samples = np.frombuffer(handle.readframes(handle.getnframes()), dtype=np.int16)
    if rate == RATE:
        return samples
    return np.asarray(soxr.resample(samples, rate, RATE), dtype=np.int16)
