"""Audio helpers: base64 and PCM16 conversion, fixed-frame cutting, a streaming soxr resampler, normalisation.

All PCM is mono signed 16-bit little-endian. The internal rate is 16 kHz with 20 ms frames (320 samples).
"""

import base64
import binascii
import io
import wave

import numpy as np
import numpy.typing as npt
import soxr

INTERNAL_RATE = 16000
FRAME_MS = 20
FRAME_SAMPLES = INTERNAL_RATE * FRAME_MS // 1000
FRAME_BYTES = FRAME_SAMPLES * 2

Samples = npt.NDArray[np.int16]


class AudioFormatError(ValueError):
    """Audio the client sent cannot be decoded; `code` is the protocol error code to answer with."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def b64_to_pcm(data: str) -> bytes:
    try:
        pcm = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise AudioFormatError("invalid_message", "audio_chunk.data is not valid base64") from exc
    check_pcm(pcm)
    return pcm


def pcm_to_b64(pcm: bytes) -> str:
    return base64.b64encode(pcm).decode("ascii")


def check_pcm(pcm: bytes) -> None:
    if len(pcm) % 2:
        raise AudioFormatError("unsupported_audio", "PCM16 audio must have an even number of bytes")


def pcm_to_array(pcm: bytes) -> Samples:
    samples: Samples = np.frombuffer(pcm, dtype=np.int16)
    return samples


def array_to_pcm(samples: Samples) -> bytes:
    return samples.astype("<i2", copy=False).tobytes()


def normalize(samples: Samples, peak: float = 0.9) -> Samples:
    """Scale so the loudest sample reaches `peak` of full scale (silence is returned unchanged)."""
    loudest = int(np.max(np.abs(samples.astype(np.int32)))) if samples.size else 0
    if loudest == 0:
        return samples
    scaled = samples.astype(np.float32) * (peak * 32767.0 / loudest)
    result: Samples = np.clip(np.rint(scaled), -32768, 32767).astype(np.int16)
    return result


def frame_time_ms(seq: int) -> int:
    """Audio time at the start of the bus frame with sequence number `seq` (frames are FRAME_MS long, from 0)."""
    return seq * FRAME_MS


def duration_ms(pcm: bytes, rate: int) -> float:
    return len(pcm) / 2 / rate * 1000.0


class FrameCutter:
    """Re-cuts a byte stream arriving in uneven pieces into fixed-size frames."""

    __slots__ = ("_buffer", "frame_bytes")

    def __init__(self, frame_bytes: int = FRAME_BYTES) -> None:
        self.frame_bytes = frame_bytes
        self._buffer = bytearray()

    def push(self, data: bytes) -> list[bytes]:
        buffer = self._buffer
        buffer += data
        size = self.frame_bytes
        count = len(buffer) // size
        if not count:
            return []
        frames = [bytes(buffer[i * size : (i + 1) * size]) for i in range(count)]
        del buffer[: count * size]
        return frames

    @property
    def pending_bytes(self) -> int:
        return len(self._buffer)


class StreamResampler:
    """Converts a PCM16 stream at `in_rate` to 16 kHz frames of 20 ms, statefully across chunks.

    soxr's streaming output comes in uneven bursts; the FrameCutter re-cuts it into fixed frames.
    At 16 kHz input no resampling happens, only the re-cut.
    """

    __slots__ = ("_cutter", "_stream", "in_rate")

    def __init__(self, in_rate: int, frame_bytes: int = FRAME_BYTES) -> None:
        self.in_rate = in_rate
        self._cutter = FrameCutter(frame_bytes)
        self._stream = (
            None if in_rate == INTERNAL_RATE else soxr.ResampleStream(in_rate, INTERNAL_RATE, 1, dtype="int16")
        )

    def push(self, pcm: bytes) -> list[bytes]:
        if self._stream is None:
            return self._cutter.push(pcm)
        out = self._stream.resample_chunk(pcm_to_array(pcm))
        return self._cutter.push(array_to_pcm(out))

    def flush(self) -> list[bytes]:
        """Drain the resampler at end of stream; a last partial frame is zero-padded."""
        frames: list[bytes] = []
        if self._stream is not None:
            frames = self._cutter.push(array_to_pcm(self._stream.resample_chunk(np.zeros(0, np.int16), last=True)))
        pending = self._cutter.pending_bytes
        if pending:
            frames += self._cutter.push(bytes(self._cutter.frame_bytes - pending))
        return frames


def wav_payload(data: bytes, default_rate: int) -> tuple[bytes, int]:
    """PCM and rate of LINEAR16 audio that may carry a RIFF/WAV header (Dialogflow's LINEAR16 output does)."""
    if not data.startswith(b"RIFF"):
        return data, default_rate
    with wave.open(io.BytesIO(data), "rb") as wav:
        return wav.readframes(wav.getnframes()), wav.getframerate()
