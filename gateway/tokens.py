"""Resume tokens: self-contained, short-lived and bound to their session, shopper and ownership epoch.

A token is `base64url(payload) "." base64url(mac)`: the payload is JSON with the session id, the JWT subject
(empty when auth is off), the ownership epoch and the expiry (unix seconds); the MAC is HMAC-SHA256 under a key
derived for resume tokens only (`HMAC(secret, "voicechat resume v1")`), never the JWT key itself. Verification
takes any string and never raises: a token that is malformed, forged, expired or of another subject is refused
with a reason; so is a token of an ended session (gateway/shopper_kv.py) or of a socket that another socket took
the session from since (`SessionRecord.accepts`, shared/session_record.py) (docs/protocol.md, "Resuming").
"""

import base64
import binascii
import hashlib
import hmac
import os
import re
from dataclasses import dataclass
from typing import Literal

import msgspec

from shared import subjects
from shared.settings import GatewaySettings

_KEY_LABEL = b"voicechat resume v1"
MAX_TOKEN_CHARS = 1024
_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


class ResumeClaims(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    sid: str
    sub: str
    epoch: int
    exp: int


_decoder = msgspec.json.Decoder(ResumeClaims)
_encoder = msgspec.json.Encoder()

Refusal = Literal["malformed", "forged", "expired", "other_subject", "ended"]


@dataclass(frozen=True, slots=True)
class Refused:
    reason: Refusal


def resume_key(settings: GatewaySettings) -> tuple[bytes, bool]:
    """The MAC key and whether it is shared between gateways.

    Derived from VOICECHAT_RESUME_SECRET, else VOICECHAT_AUTH_SECRET; with neither (development), a random key
    of this process: resume then works on this gateway only, and nobody can forge a token from a public key.
    """
    secret = settings.resume_secret or settings.auth_secret
    if secret is None:
        return os.urandom(32), False
    return hmac.new(secret.encode(), _KEY_LABEL, hashlib.sha256).digest(), True


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class ResumeTokens:
    """Issues and verifies resume tokens with one key; `now` (unix seconds) is passed in."""

    def __init__(self, key: bytes, ttl_s: float) -> None:
        self._key = key
        self.ttl_s = ttl_s

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()

    def issue(self, session_id: str, subject: str, epoch: int, now: float) -> str:
        payload = _encoder.encode(ResumeClaims(sid=session_id, sub=subject, epoch=epoch, exp=int(now + self.ttl_s)))
        return f"{_b64(payload)}.{_b64(self._mac(payload))}"

    def verify(self, token: str, subject: str, now: float) -> ResumeClaims | Refused:
        """The claims of an authentic, unexpired token of `subject`. Whether its session ended is the shopper
        directory's to say (gateway/shopper_kv.py), whether another socket took it over the session record's
        (`SessionRecord.accepts`, gateway/owners.py)."""
        claims = self._authentic(token)
        if isinstance(claims, Refused):
            return claims
        if claims.exp <= now:
            return Refused("expired")
        if not hmac.compare_digest(claims.sub.encode(), subject.encode()):
            return Refused("other_subject")
        return claims

    def _authentic(self, token: str) -> ResumeClaims | Refused:
        """The claims of a token whose MAC is right; any input at all (non-ASCII, junk) is refused, never raised."""
        if len(token) > MAX_TOKEN_CHARS or not _SHAPE.fullmatch(token):
            return Refused("malformed")
        payload_text, mac_text = token.split(".")
        try:
            payload, mac = _unb64(payload_text), _unb64(mac_text)
        except (binascii.Error, ValueError):
            return Refused("malformed")
        if not hmac.compare_digest(self._mac(payload), mac):
            return Refused("forged")
        try:
            claims = _decoder.decode(payload)
        except msgspec.DecodeError:
            return Refused("malformed")
        return claims if subjects.is_session_id(claims.sid) else Refused("malformed")


@dataclass(slots=True)
class SessionTokens:
    """The resume tokens of one session: at `session_start` and re-issued before they expire.

    `epoch` is the session's dialog ownership epoch, set from its session record (gateway/owners.py) before each
    token is issued.
    """

    tokens: ResumeTokens
    session_id: str
    subject: str
    epoch: int = 0

    @property
    def ttl_s(self) -> float:
        return self.tokens.ttl_s

    def fresh(self, now: float) -> str:
        return self.tokens.issue(self.session_id, self.subject, self.epoch, now)
