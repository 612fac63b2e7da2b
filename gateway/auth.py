"""Connect-time checks before the WebSocket upgrade: allowed origins (403) and HS256 JWTs (401)."""

import jwt
from aiohttp import web

from shared.settings import GatewaySettings


def check_origin(request: web.Request, settings: GatewaySettings) -> None:
    """With an allow-list set, a browser `Origin` not on it is refused; clients that send none are native apps."""
    origin = request.headers.get("Origin")
    if settings.allowed_origins and origin is not None and origin not in settings.allowed_origins:
        raise web.HTTPForbidden(text="origin not allowed")


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.query.get("token")


def authenticate(request: web.Request, settings: GatewaySettings) -> str | None:
    """The token's `sub` when auth is on (None when off); HTTP 401 for a missing, expired or forged token."""
    if settings.auth_secret is None:
        return None
    token = bearer_token(request)
    if not token:
        raise web.HTTPUnauthorized(text="a token is required (query `token` or `Authorization: Bearer`)")
    try:
        claims = jwt.decode(token, settings.auth_secret, algorithms=["HS256"], options={"require": ["exp"]})
    except jwt.ExpiredSignatureError as exc:
        raise web.HTTPUnauthorized(text="token expired") from exc
    except jwt.InvalidTokenError as exc:
        raise web.HTTPUnauthorized(text="invalid token") from exc
    return str(claims.get("sub", ""))
