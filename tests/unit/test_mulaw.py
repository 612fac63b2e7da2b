"""The mu-law tables: G.711 reference values, the reference encoder's exact table, and round-trip quality."""

import hashlib

import numpy as np

from shared import mulaw
from shared.audio import array_to_pcm

# SHA-256 of the complete tables as CPython 3.11's audioop.lin2ulaw / ulaw2lin (Sun's g711.c) produce them:
# the encoder over every 16-bit sample from -32768 to 32767, the decoder over the 256 codes, as int16 LE.
ENCODE_TABLE_SHA256 = "81d633c9e6972a18c74a58720b96cb8ca0bdd096d4060b646dd708c3b846019a"
DECODE_TABLE_SHA256 = "3dab54339e520bb2c924826e3b72a917a2b612e9fd12fc867500f1d983a75827"


def test_reference_values() -> None:
    assert mulaw.decode(bytes([0x00, 0x7F, 0x80, 0xFF, 0x0F])) == array_to_pcm(
        np.array([-32124, 0, 32124, 0, -16764], np.int16)
    )
    assert mulaw.encode(array_to_pcm(np.array([0, 32767, -32768, 1000, -1000], np.int16))) == bytes(
        [0xFF, 0x80, 0x00, 0xCE, 0x4E]
    )


def test_tables_match_the_reference_codec() -> None:
    every_sample = array_to_pcm(np.arange(-32768, 32768, dtype=np.int16))
    assert hashlib.sha256(mulaw.encode(every_sample)).hexdigest() == ENCODE_TABLE_SHA256
    assert hashlib.sha256(mulaw.decode(bytes(range(256)))).hexdigest() == DECODE_TABLE_SHA256


def test_round_trip_keeps_speech_quality() -> None:
    """mu-law's SNR is about 38 dB over a wide range of levels; a decoded code re-encodes to itself."""
    t = np.arange(8000) / 8000
    for amplitude in (500, 5000, 30000):
        tone = (amplitude * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
        back = np.frombuffer(mulaw.decode(mulaw.encode(array_to_pcm(tone))), np.int16).astype(np.float64)
        noise = back - tone
        snr = 10 * np.log10(np.sum(tone.astype(np.float64) ** 2) / np.sum(noise**2))
        assert snr > 30, (amplitude, snr)
    codes = bytes(range(256))
    recoded = mulaw.encode(mulaw.decode(codes))
    assert all(a == b or {a, b} == {0x7F, 0xFF} for a, b in zip(codes, recoded, strict=True))  # +0 and -0
