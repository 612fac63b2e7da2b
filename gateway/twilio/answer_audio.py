"""The answer's audio for the phone: PCM16 chunks at the agent's rate -> 20 ms frames of 8 kHz mu-law."""

from shared import mulaw
from shared.audio import StreamResampler

PHONE_RATE = 8000


class AnswerEncoder:
    """One per answer (the resampler keeps filter state across chunks); `flush` at the answer's end."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._resampler = StreamResampler(rate, out_rate=PHONE_RATE)

    def push(self, pcm: bytes) -> list[bytes]:
        return [mulaw.encode(frame) for frame in self._resampler.push(pcm)]

    def flush(self) -> list[bytes]:
        return [mulaw.encode(frame) for frame in self._resampler.flush()]
