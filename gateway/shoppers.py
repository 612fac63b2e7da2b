"""Who is connected, per shopper, and which sessions have ended: what the gateway checks across sessions.

`ShopperDirectory` is the seam: `LocalShoppers` keeps it for this gateway only (pure, time passed in). The
session record in JetStream KV (issue 12) is meant to implement the same interface across every gateway: count
a shopper's sessions from the records, and keep ended sessions in the record until their resume tokens expire.
Until then a shopper's session cap, turn budget and the ended-session list hold per gateway.
"""

from collections.abc import Container
from typing import Protocol

from gateway.limits import TokenBucket


class ShopperDirectory(Protocol):
    async def open(self, shopper: str, session_id: str) -> bool:
        """Count a socket of `session_id` for `shopper`; False (nothing counted) past the shopper's session cap.
        A socket resuming a session the shopper already has open does not count as another session."""
        ...

    async def close(self, shopper: str, session_id: str) -> None: ...

    async def end(self, session_id: str, until: float) -> None:
        """`end_session` was received: refuse resume tokens of this session until `until` (their expiry)."""
        ...

    async def ended(self, now: float) -> Container[str]: ...


class LocalShoppers:
    """This gateway's view: sockets per session per shopper, ended sessions, and each shopper's turn bucket."""

    def __init__(self, max_sessions: int, turns_per_minute: float) -> None:
        self.max_sessions = max_sessions
        self.turns_per_minute = turns_per_minute
        self._sockets: dict[str, dict[str, int]] = {}
        self._ended: dict[str, float] = {}
        self._turns: dict[str, TokenBucket] = {}

    async def open(self, shopper: str, session_id: str) -> bool:
        sessions = self._sockets.setdefault(shopper, {})
        if session_id not in sessions and len(sessions) >= self.max_sessions:
            return False
        sessions[session_id] = sessions.get(session_id, 0) + 1
        return True

    async def close(self, shopper: str, session_id: str) -> None:
        sessions = self._sockets.get(shopper, {})
        left = sessions.get(session_id, 0) - 1
        if left > 0:
            sessions[session_id] = left
            return
        sessions.pop(session_id, None)
        if not sessions:
            self._sockets.pop(shopper, None)

    async def end(self, session_id: str, until: float) -> None:
        self._ended[session_id] = until

    async def ended(self, now: float) -> Container[str]:
        for session_id in [sid for sid, until in self._ended.items() if until <= now]:
            del self._ended[session_id]
        return self._ended.keys()

    def turn_bucket(self, shopper: str, now: float) -> TokenBucket:
        """The shopper's turn bucket, shared by its sessions here; kept while it is not full again, so closing
        and reopening sockets does not refill it (`now` is monotonic)."""
        bucket = self._turns.get(shopper)
        if bucket is None:
            self._forget_refilled(now)
            bucket = self._turns[shopper] = TokenBucket.full(self.turns_per_minute / 60, self.turns_per_minute, now)
        return bucket

    def _forget_refilled(self, now: float) -> None:
        for shopper, bucket in list(self._turns.items()):
            if shopper not in self._sockets and bucket.tokens + (now - bucket.updated) * bucket.rate >= bucket.burst:
                del self._turns[shopper]
