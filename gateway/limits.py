"""Pure per-session rate limits (token buckets, time passed in): message rate and audio faster than real time."""

from dataclasses import dataclass


@dataclass(slots=True)
class TokenBucket:
    """`rate` tokens per second, holding at most `burst`; starts full."""

    rate: float
    burst: float
    tokens: float
    updated: float

    @classmethod
    def full(cls, rate: float, burst: float, now: float) -> "TokenBucket":
        return cls(rate, burst, burst, now)

    def take(self, amount: float, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < amount:
            return False
        self.tokens -= amount
        return True


class ClientLimits:
    """Messages per second (burst of two seconds' worth) and audio milliseconds per second.

    Audio may run `factor` times faster than real time, with a burst of `factor` seconds of audio (a client
    catching up after a network stall); anything faster is refused.
    """

    def __init__(self, message_rate: float, audio_factor: float, now: float) -> None:
        self.messages = TokenBucket.full(message_rate, 2 * message_rate, now)
        self.audio_ms = TokenBucket.full(audio_factor * 1000, audio_factor * 1000, now)
        self._last_warning = float("-inf")

    def allow_message(self, now: float) -> bool:
        return self.messages.take(1, now)

    def allow_audio(self, duration_ms: float, now: float) -> bool:
        return self.audio_ms.take(duration_ms, now)

    def should_warn(self, now: float) -> bool:
        """At most one rate-limit error a second, so a flooding client does not flood itself with errors."""
        if now - self._last_warning < 1.0:
            return False
        self._last_warning = now
        return True
