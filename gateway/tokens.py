"""Resume tokens: an HMAC of the session id, so any gateway sharing the secret can verify a resume."""

import hashlib
import hmac

from shared.settings import GatewaySettings

# Used only when no VOICECHAT_AUTH_SECRET is configured (development); logged as a warning at start-up.
DEV_SECRET = "voicechat-development-resume-secret"


def resume_secret(settings: GatewaySettings) -> bytes:
    return (settings.auth_secret or DEV_SECRET).encode()


def resume_token(secret: bytes, session_id: str) -> str:
    return hmac.new(secret, session_id.encode(), hashlib.sha256).hexdigest()[:40]


def verify_resume(secret: bytes, session_id: str, token: str) -> bool:
    return hmac.compare_digest(resume_token(secret, session_id), token)
