"""`GET` and `DELETE /sessions/{session_id}/history`: a session's conversation log, read back or erased.

docs/conversation_log.md: with auth on, only a token whose `sub` is the subject recorded when the session started,
or one with `"admin": true`, may read or erase; anything else, an unknown session or an erased one is the same 404.
"""

from typing import Any

import msgspec
import nats.errors
from aiohttp import web
from nats.js import JetStreamContext

from gateway.auth import read_credentials, verified_claims
from shared import subjects
from shared.convlog.records import AnyRecord, SessionEnded, SessionStarted, TurnRecord
from shared.convlog.stream import erase_session, read_session
from shared.logs import get_logger
from shared.settings import GatewaySettings

log = get_logger(__name__)

JETSTREAM_KEY = web.AppKey("convlog_js", JetStreamContext)
HISTORY_SETTINGS_KEY = web.AppKey("convlog_settings", GatewaySettings)
PATH = "/sessions/{session_id}/history"
ADMIN_CLAIM = "admin"
_encoder = msgspec.json.Encoder()


class History(msgspec.Struct):
    session_id: str
    started_at: float | None
    ended_at: float | None
    turns: list[TurnRecord]


def _not_found() -> web.HTTPNotFound:
    return web.HTTPNotFound(text="no history for this session")


def _allowed(claims: dict[str, Any] | None, records: list[AnyRecord]) -> bool:
    if claims is None:  # auth off (development): the session id is the key
        return True
    if claims.get(ADMIN_CLAIM) is True:
        return True
    owners = {r.subject for r in records if isinstance(r, SessionStarted) and r.subject is not None}
    return len(owners) == 1 and claims.get("sub") in owners


async def _records(request: web.Request) -> tuple[str, list[AnyRecord]]:
    """The session's records when this caller may see them; 401 without a valid token, else 404 alike."""
    settings = request.app[HISTORY_SETTINGS_KEY]
    claims = verified_claims(read_credentials(request, settings).bearer, settings)
    session_id = request.match_info["session_id"]
    if not subjects.is_session_id(session_id):
        raise _not_found()
    try:
        records = await read_session(request.app[JETSTREAM_KEY], session_id)
    except (nats.errors.Error, TimeoutError) as exc:
        log.warning("convlog_read_failed", error=str(exc) or type(exc).__name__)
        raise web.HTTPServiceUnavailable(text="the conversation log cannot be reached; try again") from exc
    if not records or not _allowed(claims, records):
        raise _not_found()
    return session_id, records


async def get_history(request: web.Request) -> web.Response:
    session_id, records = await _records(request)
    starts = [r.at for r in records if isinstance(r, SessionStarted)]
    ends = [r.at for r in records if isinstance(r, SessionEnded)]
    history = History(
        session_id=session_id,
        started_at=min(starts) if starts else None,
        ended_at=max(ends) if ends and (not starts or max(ends) >= max(starts)) else None,
        turns=sorted((r for r in records if isinstance(r, TurnRecord)), key=lambda t: (t.started_at or t.at, t.at)),
    )
    return web.Response(body=_encoder.encode(history), content_type="application/json")


async def delete_history(request: web.Request) -> web.Response:
    session_id, _ = await _records(request)
    try:
        await erase_session(request.app[JETSTREAM_KEY], session_id)
    except (nats.errors.Error, TimeoutError) as exc:
        log.warning("convlog_erase_failed", error=str(exc) or type(exc).__name__)
        raise web.HTTPServiceUnavailable(text="the conversation log cannot be reached; try again") from exc
    log.info("convlog_session_erased", session_id=session_id)
    return web.Response(status=204)
