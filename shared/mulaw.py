"""G.711 mu-law <-> PCM16 with numpy lookup tables (telephone audio, docs/telephony.md).

`audioop` is gone from Python 3.13 and no maintained codec is in the lock, so both directions are table
lookups built once at import: 256 entries to decode, 65,536 (one per 16-bit sample) to encode. The tables follow
ITU-T G.711's mu-law (bias 0x84, bits inverted on the wire), the format Twilio Media Streams
carry (`audio/x-mulaw`, 8 kHz mono).
"""

import numpy as np
import numpy.typing as npt

from shared.audio import Samples, array_to_pcm, pcm_to_array

_BIAS = 0x84
_CLIP_14 = 8158  # 14-bit magnitude ceiling: with the bias it saturates at segment 7, mantissa 15 (g711.c's 0x7F)


def _decode_table() -> Samples:
    codes = ~np.arange(256, dtype=np.int32) & 0xFF
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = (((mantissa << 3) + _BIAS) << exponent) - _BIAS
    table: Samples = np.where(codes & 0x80, -magnitude, magnitude).astype(np.int16)
    return table


def _encode_table() -> npt.NDArray[np.uint8]:
    """Index: the sample's 16 bits read as unsigned (`sample & 0xFFFF`). The reference encoder (Sun's g711.c,
    which CPython's audioop also followed): 14-bit magnitude, bias 0x21, segment = highest set bit."""
    samples = np.arange(65536, dtype=np.int32)
    samples = np.where(samples >= 32768, samples - 65536, samples) >> 2
    mask = np.where(samples < 0, 0x7F, 0xFF)
    magnitude = np.minimum(np.abs(samples), _CLIP_14) + (_BIAS >> 2)
    segment = np.floor(np.log2(magnitude >> 5)).astype(np.int32)
    code = (segment << 4) | ((magnitude >> (segment + 1)) & 0x0F)
    table: npt.NDArray[np.uint8] = (code ^ mask).astype(np.uint8)
    return table


ULAW_TO_PCM = _decode_table()
PCM_TO_ULAW = _encode_table()


def decode(ulaw: bytes) -> bytes:
    """mu-law bytes -> PCM16LE (two bytes per input byte)."""
    return array_to_pcm(ULAW_TO_PCM[np.frombuffer(ulaw, dtype=np.uint8)])


def encode(pcm: bytes) -> bytes:
    """PCM16LE -> mu-law bytes (one byte per sample)."""
    return PCM_TO_ULAW[pcm_to_array(pcm).view(np.uint16)].tobytes()
