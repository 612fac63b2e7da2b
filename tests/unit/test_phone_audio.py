"""Phone audio at the edge: caller audio reaches 16 kHz frame by frame (no hold-back), answers become 20 ms mu-law."""

import numpy as np

from gateway.twilio.answer_audio import AnswerEncoder
from gateway.twilio.call import CALLER_RESAMPLING, PHONE_RATE
from shared import mulaw
from shared.audio import StreamResampler, array_to_pcm


def test_caller_audio_comes_out_as_it_goes_in() -> None:
    """Each 20 ms of 8 kHz audio gives a 16 kHz frame at once (soxr HQ would hold 100 ms back)."""
    resampler = StreamResampler(PHONE_RATE, quality=CALLER_RESAMPLING)
    t = np.arange(160 * 50) / PHONE_RATE
    tone = array_to_pcm((8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16))
    out = [len(resampler.push(tone[i : i + 320])) for i in range(0, len(tone), 320)]
    assert out[1:] == [1] * 49 and out[0] <= 1
    held = StreamResampler(PHONE_RATE)
    assert [len(held.push(tone[i : i + 320])) for i in range(0, 1600, 320)] == [0, 0, 0, 0, 0]


def test_answer_becomes_20_ms_mu_law_frames() -> None:
    encoder = AnswerEncoder(16000)
    second = array_to_pcm((8000 * np.sin(2 * np.pi * 300 * np.arange(16000) / 16000)).astype(np.int16))
    frames = [f for i in range(0, len(second), 3200) for f in encoder.push(second[i : i + 3200])] + encoder.flush()
    assert len(frames) in (50, 51) and {len(f) for f in frames} == {160}  # 160 bytes = 20 ms of 8 kHz mu-law
    decoded = np.frombuffer(mulaw.decode(b"".join(frames)), np.int16)
    assert np.abs(decoded[800:7200]).max() > 6000  # the tone survives, at level
