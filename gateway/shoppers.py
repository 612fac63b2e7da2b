"""Who is connected, per shopper, and which sessions have ended: what the gateway checks across sessions.

`ShopperDirectory` is the seam; gateway/shopper_kv.py implements it across every gateway on JetStream KV, on top
of `LocalShoppers`, this gateway's own book (pure, time passed in): sockets per session per shopper, ended
sessions seen here, and each shopper's turn bucket here (which the KV implementation keeps in step with the
shopper's budget across gateways). The pure pieces of the KV implementation live here too: the digests its keys
are made of and the choice of a slot.
"""

import hashlib
import hmac
from collections.abc import Sequence
from typing import Protocol

from gateway.limits import TokenBucket
from shared.settings import GatewaySettings

_DIGEST_LABEL = b"voicechat shopper keys v1"
_DEVELOPMENT_SECRET = b"voicechat development: no secret configured"


class ShopperDirectory(Protocol):
    async def open(self, shopper: str, session_id: str) -> bool:
        """Count a socket of `session_id` for `shopper`; False (nothing counted) past the shopper's session cap.
        A socket resuming a session the shopper already has open does not count as another session."""
        ...

    async def close(self, shopper: str, session_id: str) -> None: ...

    async def end(self, session_id: str, until: float) -> None:
        """`end_session` was received: refuse resume tokens of this session until `until` (their expiry)."""
        ...

    async def ended(self, session_id: str, now: float) -> bool: ...

    def turn_bucket(self, shopper: str, now: float) -> TokenBucket:
        """The shopper's turn bucket on this gateway, shared by its sessions here."""
        ...

    def turn_taken(self, shopper: str, bucket: TokenBucket) -> None:
        """A turn was allowed from `bucket`: count it in the shopper's budget across gateways."""
        ...


class LocalShoppers:
    """This gateway's view: sockets per session per shopper, ended sessions, and each shopper's turn bucket.
    `max_sessions` 0: no cap."""

    def __init__(self, max_sessions: int, turns_per_minute: float) -> None:
        self.max_sessions = max_sessions
        self.turns_per_minute = turns_per_minute
        self._sockets: dict[str, dict[str, int]] = {}
        self._ended: dict[str, float] = {}
        self._turns: dict[str, TokenBucket] = {}

    def holds(self, shopper: str, session_id: str) -> bool:
        """Whether a socket of `session_id` is counted here already."""
        return session_id in self._sockets.get(shopper, {})

    async def open(self, shopper: str, session_id: str) -> bool:
        sessions = self._sockets.setdefault(shopper, {})
        if session_id not in sessions and 0 < self.max_sessions <= len(sessions):
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

    async def ended(self, session_id: str, now: float) -> bool:
        for expired in [sid for sid, until in self._ended.items() if until <= now]:
            del self._ended[expired]
        return session_id in self._ended

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


def digest_key(settings: GatewaySettings) -> bytes:
    """The key of the KV keys' digests: derived from VOICECHAT_RESUME_SECRET (else VOICECHAT_AUTH_SECRET), which
    every gateway shares, so that their digests agree and nobody without the secret can tell a subject or an
    address from a key. Without any secret (development) a fixed key: the digests still agree across gateways
    but are no secret."""
    secret = settings.resume_secret or settings.auth_secret
    return hmac.new(secret.encode() if secret else _DEVELOPMENT_SECRET, _DIGEST_LABEL, hashlib.sha256).digest()


def digest(key: bytes, kind: str, value: str) -> str:
    """32 hex digits naming `value` (a shopper or a session id) in KV keys and values."""
    return hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()[:32]


def slots_to_try(holders: Sequence[str | None], session: str) -> list[int]:
    """Given who holds each of a shopper's slots (a session digest, or None for a free slot): the slot that
    `session` holds already (one index: a second socket of the session takes it over), else the free slots in
    order (each is tried with create: of two gateways racing for one slot, exactly one gets it). Empty: full."""
    if session in holders:
        return [holders.index(session)]
    return [index for index, holder in enumerate(holders) if holder is None]
