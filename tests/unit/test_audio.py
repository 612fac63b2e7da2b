"""Audio helpers: base64 validation, fixed frames out of uneven soxr output, normalisation."""

import numpy as np
import pytest

from shared.audio import (
    FRAME_BYTES,
    AudioFormatError,
    FrameCutter,
    StreamResampler,
    b64_to_pcm,
    frame_time_ms,
    normalize,
    pcm_to_b64,
    wav_payload,
)


def test_base64_round_trip_and_errors() -> None:
    assert b64_to_pcm(pcm_to_b64(b"\x01\x00\x02\x00")) == b"\x01\x00\x02\x00"
    with pytest.raises(AudioFormatError) as bad:
        b64_to_pcm("***")
    assert bad.value.code == "invalid_message"
    with pytest.raises(AudioFormatError) as odd:
        b64_to_pcm(pcm_to_b64(b"\x01\x00\x02"))
    assert odd.value.code == "unsupported_audio"


def test_frame_cutter_recuts_uneven_pieces() -> None:
    cutter = FrameCutter(4)
    assert cutter.push(b"abc") == []
    assert cutter.push(b"defghij") == [b"abcd", b"efgh"]
    assert cutter.pending_bytes == 2


@pytest.mark.parametrize("rate", [8000, 16000, 32000, 44100, 48000])
def test_resampler_gives_fixed_20ms_frames_of_the_right_total(rate: int) -> None:
    seconds = 1.0
    t = np.arange(int(rate * seconds)) / rate
    tone = (np.sin(2 * np.pi * 440 * t) * 10000).astype(np.int16)
    resampler = StreamResampler(rate)
    frames = []
    for start in range(0, tone.size, 331):  # uneven client chunks
        frames += resampler.push(tone[start : start + 331].tobytes())
    frames += resampler.flush()
    assert all(len(frame) == FRAME_BYTES for frame in frames)
    assert abs(len(frames) - 50) <= 1
    out = np.frombuffer(b"".join(frames), np.int16)
    spectrum = np.abs(np.fft.rfft(out[:16000]))
    assert abs(np.argmax(spectrum) * 16000 / 16000 - 440) < 5


def test_normalize_scales_to_peak_and_keeps_silence() -> None:
    quiet = np.array([0, 100, -200], np.int16)
    assert int(np.max(np.abs(normalize(quiet, 0.5)))) == 16384
    silence = np.zeros(4, np.int16)
    assert normalize(silence) is silence


def test_wav_header_is_stripped() -> None:
    import io
    import wave

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(24000)
        wav.writeframes(b"\x01\x00\x02\x00")
    assert wav_payload(buffer.getvalue(), 16000) == (b"\x01\x00\x02\x00", 24000)
    assert wav_payload(b"\x05\x00", 16000) == (b"\x05\x00", 16000)


def test_audio_time_of_a_frame_is_its_start_in_20ms_steps() -> None:
    assert [frame_time_ms(seq) for seq in (0, 1, 50)] == [0, 20, 1000]
