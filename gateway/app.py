"""The gateway's aiohttp application: WebSocket endpoint, service info, health, readiness, metrics."""

import re
import uuid

from aiohttp import WSCloseCode, web
from nats.aio.client import Client as NATS
from nats.errors import Error as NatsError

from gateway.connection import Connection
from gateway.owners import OwnerTracker
from gateway.tokens import resume_secret, verify_resume
from shared import subjects
from shared.metrics import SESSIONS_ACTIVE, metrics_handler
from shared.protocol import PROTOCOL_VERSION, Error, encoder
from shared.settings import SAMPLE_RATES, Settings

NATS_KEY = web.AppKey("nats", NATS)
SETTINGS_KEY = web.AppKey("settings", Settings)
TRACKER_KEY = web.AppKey("tracker", OwnerTracker)
SOCKETS_KEY = web.AppKey("sockets", set[web.WebSocketResponse])

_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,2}$")


def _query(request: web.Request) -> tuple[int, str]:
    raw_rate = request.query.get("sample_rate", "16000")
    if not raw_rate.isdigit() or int(raw_rate) not in SAMPLE_RATES:
        raise web.HTTPBadRequest(text=f"unsupported sample_rate {raw_rate!r}: use one of {list(SAMPLE_RATES)}")
    language = request.query.get("language", "en-US")
    if not _LANGUAGE.match(language):
        raise web.HTTPBadRequest(text="language must be a BCP-47 tag such as en-US")
    return int(raw_rate), language


async def voice_chat(request: web.Request) -> web.WebSocketResponse:
    app = request.app
    settings = app[SETTINGS_KEY]
    sample_rate, language = _query(request)
    secret = resume_secret(settings)
    session_id = request.query.get("session_id")
    resumed = session_id is not None
    ws = web.WebSocketResponse(heartbeat=20.0, max_msg_size=settings.max_message_bytes)
    await ws.prepare(request)
    if session_id is not None and not (
        subjects.is_session_id(session_id) and verify_resume(secret, session_id, request.query.get("resume_token", ""))
    ):
        error = Error(code="session_not_found", message="unknown session or bad resume_token", fatal=True)
        await ws.send_str(encoder.encode(error).decode())
        await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"session not found")
        return ws
    app[SOCKETS_KEY].add(ws)
    SESSIONS_ACTIVE.inc()
    try:
        connection = Connection(ws, app[NATS_KEY], app[TRACKER_KEY], settings, secret)
        await connection.run(session_id or uuid.uuid4().hex, sample_rate, language, resumed)
    finally:
        app[SOCKETS_KEY].discard(ws)
        SESSIONS_ACTIVE.dec()
    return ws


async def info(request: web.Request) -> web.Response:
    return web.json_response(
        {
            "service": "voicechat-gateway",
            "protocol": PROTOCOL_VERSION,
            "websocket": "/ws/voice-chat",
            "test_page": "/test",
            "sample_rates": list(SAMPLE_RATES),
        }
    )


async def healthz(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    nc = request.app[NATS_KEY]
    checks = {"nats": nc.is_connected}
    for kind in subjects.WORKER_KINDS:
        checks[kind] = await _worker_answers(nc, kind) if nc.is_connected else False
    ready = all(checks.values())
    return web.json_response({"ready": ready, "checks": checks}, status=200 if ready else 503)


async def _worker_answers(nc: NATS, kind: str) -> bool:
    try:
        await nc.request(subjects.ping(kind), b"", timeout=0.5)
    except (TimeoutError, NatsError):
        return False
    return True


async def _close_sockets(app: web.Application) -> None:
    sockets = app[SOCKETS_KEY]
    for ws in [*sockets]:
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown: resume elsewhere")


def build_app(nc: NATS, settings: Settings, tracker: OwnerTracker) -> web.Application:
    app = web.Application()
    app[NATS_KEY] = nc
    app[SETTINGS_KEY] = settings
    app[TRACKER_KEY] = tracker
    sockets: set[web.WebSocketResponse] = set()
    app[SOCKETS_KEY] = sockets
    app.router.add_get("/", info)
    app.router.add_get("/ws/voice-chat", voice_chat)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_handler)
    app.on_shutdown.append(_close_sockets)
    return app
