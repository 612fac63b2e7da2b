"""Audio files for the terminal client: a WAV in as 20 ms PCM16 frames, the response audio out as a WAV."""

import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shared.audio import FRAME_MS, array_to_pcm, b64_to_pcm, pcm_to_array
from shared.protocol import AudioResponse
from shared.settings import SAMPLE_RATES


class WavInputError(ValueError):
    """The input file cannot be streamed as protocol v1 audio."""


@dataclass(frozen=True)
class InputAudio:
    rate: int
    frames: list[bytes]

    @property
    def seconds(self) -> float:
        return len(self.frames) * FRAME_MS / 1000

    def silence(self) -> bytes:
        return bytes(self.rate * FRAME_MS // 1000 * 2)


def read_wav(path: Path) -> InputAudio:
    """A PCM16 WAV at an allowed sample rate, mixed down to mono and cut into 20 ms frames."""
    try:
        with wave.open(str(path), "rb") as wav:
            rate, width, channels = wav.getframerate(), wav.getsampwidth(), wav.getnchannels()
            raw = wav.readframes(wav.getnframes())
    except (OSError, EOFError, wave.Error) as exc:
        raise WavInputError(f"cannot read {path}: {exc}") from exc
    if width != 2:
        raise WavInputError(f"{path} is {8 * width}-bit: the protocol streams 16-bit PCM")
    if rate not in SAMPLE_RATES:
        raise WavInputError(f"{path} is {rate} Hz: use one of {', '.join(map(str, SAMPLE_RATES))}")
    samples = pcm_to_array(raw).reshape(-1, channels).mean(axis=1).round().astype(np.int16)
    pcm = array_to_pcm(samples)
    size = rate * FRAME_MS // 1000 * 2
    return InputAudio(rate, [pcm[i : i + size] for i in range(0, len(pcm), size)])


class ResponseAudio:
    """Every `audio_response` chunk received, in arrival order, written out as one mono WAV."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.rate = 16000

    def add(self, event: AudioResponse) -> int:
        pcm = b64_to_pcm(event.data)
        self.chunks.append(pcm)
        self.rate = event.sample_rate
        return len(pcm) // 2

    @property
    def samples(self) -> int:
        return sum(len(chunk) for chunk in self.chunks) // 2

    def write(self, path: Path) -> None:
        with wave.open(str(path), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(self.rate)
            wav.writeframes(b"".join(self.chunks))
