"""Pure per-session rate limits (token buckets, time passed in): message rate, audio faster than real time, turns
a minute and `text_input` length (README, Configuration)."""

from collections.abc import Callable
from dataclasses import dataclass

from shared.protocol import Error


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


class TurnBudget:
    """Turns a session may open (`text_input`, `start_speaking`): N a minute for the session and M a minute for
    its shopper (a bucket shared by the shopper's sessions on this gateway, which `shopper_turn` reports each turn
    to, for the shopper's budget across gateways), bursts of a minute's worth; and the longest `text_input`. A
    refused turn costs nothing."""

    def __init__(
        self,
        per_minute: float,
        shopper: TokenBucket,
        max_text_chars: int,
        now: float,
        shopper_turn: Callable[[], None] = lambda: None,
    ) -> None:
        self.session = TokenBucket.full(per_minute / 60, per_minute, now)
        self.shopper = shopper
        self.max_text_chars = max_text_chars
        self.shopper_turn = shopper_turn

    def refuse(self, text: str | None, now: float) -> Error | None:
        """None when the turn may start; otherwise the non-fatal error to send (the turn is dropped)."""
        if text is not None and len(text) > self.max_text_chars:
            message = f"text_input longer than {self.max_text_chars} characters"
            return Error(code="message_too_large", message=message, fatal=False)
        if not self.session.take(1, now):
            return Error(code="rate_limited", message="too many turns a minute in this session", fatal=False)
        if not self.shopper.take(1, now):
            self.session.tokens += 1
            return Error(code="rate_limited", message="too many turns a minute for this shopper", fatal=False)
        self.shopper_turn()
        return None
