"""Connect-time checks before the WebSocket upgrade: origins (403), where credentials come from (400/401), JWTs
(401 with a reason code) and who the shopper is (docs/protocol.md, "Authentication").

Credentials never travel in the URL: browsers offer them as WebSocket subprotocols next to `voicechat.v1`
(`bearer.<JWT>`, `resume.<token>`) and the gateway selects `voicechat.v1` only; other clients may send
`Authorization: Bearer <JWT>`. Query `token`/`resume_token`/`session_id` are refused unless
VOICECHAT_ALLOW_QUERY_CREDENTIALS is on. No refusal, log line or error ever repeats a credential.
"""

import json
from dataclasses import dataclass

import jwt
from aiohttp import hdrs, web

from shared.logs import get_logger
from shared.metrics import ERRORS
from shared.settings import GatewaySettings

log = get_logger(__name__)

PROTOCOL = "voicechat.v1"
BEARER = "bearer."
RESUME = "resume."
QUERY_CREDENTIALS = ("token", "resume_token", "session_id")
MAX_SUBJECT_CHARS = 256
ALGORITHMS = ["HS256"]  # pinned: a token naming any other algorithm (`none` included) is refused

_JWT_REASONS: tuple[tuple[type[jwt.PyJWTError], str], ...] = (
    (jwt.ExpiredSignatureError, "token_expired"),
    (jwt.ImmatureSignatureError, "token_not_yet_valid"),
    (jwt.InvalidAudienceError, "token_audience"),
    (jwt.InvalidIssuerError, "token_issuer"),
    (jwt.MissingRequiredClaimError, "token_claim_missing"),
    (jwt.InvalidAlgorithmError, "token_algorithm"),
    (jwt.InvalidSignatureError, "token_signature"),
)


def refuse(status: type[web.HTTPError], reason: str, message: str) -> web.HTTPError:
    """An HTTP refusal with a machine-readable reason code (never a credential) in a JSON body."""
    ERRORS.labels("gateway", "unauthorized" if status is web.HTTPUnauthorized else "connect_refused").inc()
    log.info("connect_refused", status=status.status_code, reason=reason)
    headers = {"WWW-Authenticate": 'Bearer realm="voicechat"'} if status is web.HTTPUnauthorized else None
    body = json.dumps({"error": reason, "message": message})
    return status(text=body, content_type="application/json", headers=headers)


def check_origin(request: web.Request, settings: GatewaySettings) -> None:
    """With an allow-list set, a browser `Origin` not on it is refused; clients that send none are native apps."""
    origin = request.headers.get(hdrs.ORIGIN)
    if settings.allowed_origins and origin is not None and origin not in settings.allowed_origins:
        raise refuse(web.HTTPForbidden, "origin_not_allowed", "origin not allowed")


@dataclass(frozen=True, slots=True)
class Credentials:
    bearer: str | None = None
    resume: str | None = None


def offered_protocols(request: web.Request) -> list[str]:
    values = request.headers.getall(hdrs.SEC_WEBSOCKET_PROTOCOL, [])
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


def _one(values: list[str], what: str) -> str | None:
    if len(set(values)) > 1:
        raise refuse(web.HTTPBadRequest, "credential_conflict", f"more than one {what} offered")
    return values[0] if values else None


def read_credentials(request: web.Request, settings: GatewaySettings) -> Credentials:
    """The JWT and resume token the client offered (subprotocols, header, or legacy query), each at most once."""
    offered = offered_protocols(request)
    if offered and PROTOCOL not in offered:
        raise refuse(web.HTTPBadRequest, "subprotocol_required", f"offer the {PROTOCOL} subprotocol")
    bearers = [item[len(BEARER) :] for item in offered if item.startswith(BEARER)]
    resumes = [item[len(RESUME) :] for item in offered if item.startswith(RESUME)]
    header = request.headers.get(hdrs.AUTHORIZATION, "")
    if header[:7].lower() == "bearer ":
        bearers.append(header[7:].strip())
    in_query = [name for name in QUERY_CREDENTIALS if name in request.query]
    if in_query and not settings.allow_query_credentials:
        message = "credentials in the URL are refused: offer them as subprotocols or an Authorization header"
        raise refuse(web.HTTPUnauthorized, "credentials_in_query", message)
    bearers += request.query.getall("token", [])
    resumes += request.query.getall("resume_token", [])
    return Credentials(bearer=_one(bearers, "JWT"), resume=_one(resumes, "resume token"))


def authenticate(token: str | None, settings: GatewaySettings) -> str | None:
    """The JWT's `sub` when auth is on (None when off); HTTP 401 with a reason code otherwise."""
    if settings.auth_secret is None:
        return None
    if not token:
        raise refuse(web.HTTPUnauthorized, "token_missing", "a JWT is required (bearer.<JWT> subprotocol or header)")
    required = ["exp", "sub", *(["aud"] if settings.auth_audience else []), *(["iss"] if settings.auth_issuer else [])]
    try:
        claims = jwt.decode(
            token,
            settings.auth_secret,
            algorithms=ALGORITHMS,
            audience=settings.auth_audience,
            issuer=settings.auth_issuer,
            leeway=settings.auth_leeway_s,
            options={"require": required, "verify_aud": settings.auth_audience is not None},
        )
    except jwt.PyJWTError as exc:
        reason = next((code for kind, code in _JWT_REASONS if isinstance(exc, kind)), "token_invalid")
        raise refuse(web.HTTPUnauthorized, reason, reason.replace("_", " ")) from None
    subject = claims.get("sub")
    if not isinstance(subject, str) or not 0 < len(subject) <= MAX_SUBJECT_CHARS or not subject.isprintable():
        raise refuse(web.HTTPUnauthorized, "token_subject", "the JWT subject must be 1-256 printable characters")
    return subject


def shopper_of(request: web.Request, settings: GatewaySettings, subject: str | None) -> str:
    """Who the per-shopper limits count: the JWT subject, else the client address (from the trusted proxy's
    header when VOICECHAT_CLIENT_IP_HEADER names one: its last entry, the one that proxy added)."""
    if subject is not None:
        return f"sub:{subject}"
    address = request.remote or "unknown"
    if settings.client_ip_header:
        forwarded = [item.strip() for item in request.headers.get(settings.client_ip_header, "").split(",")]
        address = next((item for item in reversed(forwarded) if item), address)
    return f"ip:{address}"
