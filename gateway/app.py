"""The gateway's aiohttp application: WebSocket endpoint, service info, health, readiness, metrics.

The connect checks live in gateway/auth.py, resume tokens in gateway/tokens.py, per-shopper accounting across
gateways in gateway/shopper_kv.py; the WebSocket flow is documented in docs/protocol.md."""

import asyncio
import functools
import re
import socket
import time
import uuid
from typing import NamedTuple

import aiohttp_cors
import structlog
from aiohttp import WSCloseCode, web
from nats.aio.client import Client as NATS
from nats.errors import Error as NatsError

from gateway.auth import PROTOCOL, authenticate, check_origin, read_credentials, refuse, shopper_of
from gateway.connection import PUBLISH_BATCH_KEY, RETRY_AFTER_MS, Connection, Opening
from gateway.history import HISTORY_SETTINGS_KEY, JETSTREAM_KEY, PATH, delete_history, get_history
from gateway.limits import TurnBudget
from gateway.owners import OwnerTracker
from gateway.page import add_page_routes
from gateway.shoppers import ShopperDirectory
from gateway.tokens import Refused, ResumeClaims, ResumeTokens, SessionTokens
from gateway.twilio.call import PhoneCall, caller_of, opening_of, pick_up, run_call
from gateway.twilio.webhook import STREAM_PATH, VOICE_PATH, check_signature, voice_webhook
from shared import subjects
from shared.convlog.writer import LogWriter
from shared.logs import get_logger
from shared.metrics import ERRORS, SESSIONS_ACTIVE, metrics_handler
from shared.protocol import AUDIO_OUT_MODES, PROTOCOL_VERSION, AudioOut, Error, encoder
from shared.publish_batch import PublishBatch
from shared.settings import SAMPLE_RATES, GatewaySettings

log = get_logger(__name__)

NATS_KEY = web.AppKey("nats", NATS)
SETTINGS_KEY = web.AppKey("settings", GatewaySettings)
TRACKER_KEY = web.AppKey("tracker", OwnerTracker)


class Socket(NamedTuple):
    """An app socket as a drain sees it: its transport (to cut off a client that does not answer the close) and
    its session (closed once the session has no turn under way)."""

    transport: asyncio.Transport | None
    session_id: str


SOCKETS_KEY = web.AppKey("sockets", dict[web.WebSocketResponse, Socket])
DRAINING_KEY = web.AppKey("draining", asyncio.Event)
TOKENS_KEY = web.AppKey("tokens", ResumeTokens)
SHOPPERS_KEY = web.AppKey("shoppers", ShopperDirectory)
CONVLOG_KEY = web.AppKey("convlog", LogWriter)

# After the drain (which closed every app socket), how long aiohttp waits for request handlers to finish, then
# again for the ones it cancelled (python -m gateway): at most twice this.
SHUTDOWN_TIMEOUT_S = 2.0

_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,2}")


def _query(request: web.Request) -> tuple[int, str, AudioOut]:
    raw_rate = request.query.get("sample_rate", "16000")
    if not (raw_rate.isascii() and raw_rate.isdecimal()) or int(raw_rate) not in SAMPLE_RATES:
        raise refuse(web.HTTPBadRequest, "sample_rate", f"unsupported sample_rate: use one of {list(SAMPLE_RATES)}")
    language = request.query.get("language", "en-US")
    if not _LANGUAGE.fullmatch(language):
        raise refuse(web.HTTPBadRequest, "language", "language must be a BCP-47 tag such as en-US")
    audio_out = request.query.get("audio_out", "json")
    if audio_out not in AUDIO_OUT_MODES:
        raise refuse(web.HTTPBadRequest, "audio_out", f"unsupported audio_out: use one of {list(AUDIO_OUT_MODES)}")
    return int(raw_rate), language, audio_out


async def voice_chat(request: web.Request) -> web.WebSocketResponse:
    """Every refusal that can be decided before the upgrade is an HTTP status (docs/protocol.md, "Connecting");
    a refused resume or a limit is an `error` event and a close code after it, which browsers can read."""
    app = request.app
    settings = app[SETTINGS_KEY]
    if app[DRAINING_KEY].is_set():
        raise refuse(web.HTTPServiceUnavailable, "draining", "gateway draining: connect to another one")
    check_origin(request, settings)
    credentials = read_credentials(request, settings)
    subject = authenticate(credentials.bearer, settings)
    sample_rate, language, audio_out = _query(request)
    shopper = shopper_of(request, settings, subject)
    ws = web.WebSocketResponse(
        protocols=(PROTOCOL,),
        heartbeat=20.0,
        max_msg_size=settings.max_message_bytes,
        compress=settings.ws_compression,
        timeout=settings.socket_close_timeout_s,
    )
    _bound_send_buffer(request, settings.socket_send_buffer)
    await ws.prepare(request)
    tokens, session_id, resume_epoch = app[TOKENS_KEY], uuid.uuid4().hex, 0
    if credentials.resume is not None:
        claims = await _resume_claims(app, ws, credentials.resume, subject or "")
        if claims is None:
            return ws
        session_id, resume_epoch = claims.sid, claims.epoch
    if not await _admitted(request, ws, shopper, session_id):
        return ws
    connection: Connection | None = None
    try:
        issuer = SessionTokens(tokens, session_id, subject or "")
        resumed = credentials.resume is not None
        opening = Opening(session_id, sample_rate, language, resumed, audio_out, subject, resume_epoch)
        connection = Connection(
            ws,
            request,
            app[NATS_KEY],
            app[TRACKER_KEY],
            settings,
            issuer,
            _budget(app, shopper),
            opening,
            app.get(CONVLOG_KEY),
        )
        with structlog.contextvars.bound_contextvars(sub=subject):
            await connection.run()
    finally:
        await _release(app, ws, shopper, session_id, connection is not None and connection.ended)
    return ws


async def twilio_stream(request: web.Request) -> web.WebSocketResponse:
    """`GET /ws/twilio`: one phone call (docs/telephony.md). The signature is checked before the upgrade; the
    call's shopper (for the per-shopper limits) is its caller digest, known from Twilio's `start` message."""
    app = request.app
    settings = app[SETTINGS_KEY]
    if app[DRAINING_KEY].is_set():
        raise refuse(web.HTTPServiceUnavailable, "draining", "gateway draining: connect to another one")
    check_signature(request, settings, STREAM_PATH)
    ws = web.WebSocketResponse(
        heartbeat=20.0, max_msg_size=settings.max_message_bytes, timeout=settings.socket_close_timeout_s
    )
    _bound_send_buffer(request, settings.socket_send_buffer)
    await ws.prepare(request)
    line = await pick_up(ws, settings)
    if line is None:
        return ws
    shopper, session_id = caller_of(line), uuid.uuid4().hex
    if not await _admitted(request, ws, shopper, session_id):
        return ws
    try:
        issuer = SessionTokens(app[TOKENS_KEY], session_id, shopper)
        opening = opening_of(line, session_id, settings.phone_language)
        budget = _budget(app, shopper)
        await run_call(PhoneCall(ws, request, app[NATS_KEY], app[TRACKER_KEY], settings, issuer, budget, opening, line))
    finally:
        await _release(app, ws, shopper, session_id, ended=True)
    return ws


async def _resume_claims(
    app: web.Application, ws: web.WebSocketResponse, token: str, subject: str
) -> ResumeClaims | None:
    """The claims of a resume token that may resume its session (not ended on any gateway), or None: refused."""
    now = time.time()
    claims = app[TOKENS_KEY].verify(token, subject, now)
    try:
        async with asyncio.timeout(app[SETTINGS_KEY].claim_timeout_s):
            if not isinstance(claims, Refused) and await app[SHOPPERS_KEY].ended(claims.sid, now):
                claims = Refused("ended")
    except Exception as exc:  # noqa: BLE001 - the KV is unreachable or slow: the client retries later
        await _unavailable(ws, exc)
        return None
    if isinstance(claims, Refused):
        log.info("resume_refused", reason=claims.reason)
        message = "unknown or ended session, or a bad or expired resume token"
        await _refuse(ws, Error(code="session_not_found", message=message, fatal=True))
        return None
    return claims


async def _unavailable(ws: web.WebSocketResponse, exc: Exception) -> None:
    log.warning("session_store_unavailable", error=str(exc))
    error = Error(code="overloaded", message="session store unavailable", fatal=True, retry_after_ms=RETRY_AFTER_MS)
    await _refuse(ws, error, 1013)


async def _admitted(request: web.Request, ws: web.WebSocketResponse, shopper: str, session_id: str) -> bool:
    """Take a session slot on this gateway and one of the shopper's (across gateways), or refuse the socket."""
    app = request.app
    settings, sockets = app[SETTINGS_KEY], app[SOCKETS_KEY]
    if len(sockets) >= settings.max_sessions:
        await _refuse(ws, Error(code="overloaded", message="gateway full, try again later", fatal=True), 1013)
        return False
    try:  # bounded, so the client hears within the session start bound (a slot taken meanwhile ages out)
        async with asyncio.timeout(settings.claim_timeout_s):
            admitted = await app[SHOPPERS_KEY].open(shopper, session_id)
    except Exception as exc:  # noqa: BLE001 - the KV is unreachable or slow: the client retries later
        await _unavailable(ws, exc)
        return False
    if not admitted:
        message = f"more than {settings.max_sessions_per_shopper} sessions at once for this shopper"
        await _refuse(ws, Error(code="rate_limited", message=message, fatal=True))
        return False
    sockets[ws] = Socket(request.transport, session_id)  # a drain closes it once its session is idle
    SESSIONS_ACTIVE.inc()
    return True


def _budget(app: web.Application, shopper: str) -> TurnBudget:
    settings, shoppers, now = app[SETTINGS_KEY], app[SHOPPERS_KEY], time.monotonic()
    bucket = shoppers.turn_bucket(shopper, now)
    charge = functools.partial(shoppers.turn_taken, shopper, bucket)
    return TurnBudget(settings.turns_per_minute_session, bucket, settings.max_text_chars, now, charge)


async def _release(app: web.Application, ws: web.WebSocketResponse, shopper: str, session_id: str, ended: bool) -> None:
    app[SOCKETS_KEY].pop(ws, None)
    SESSIONS_ACTIVE.dec()
    shoppers = app[SHOPPERS_KEY]
    await shoppers.close(shopper, session_id)
    if ended:  # refuse its resume tokens until the last one expires
        await shoppers.end(session_id, time.time() + app[TOKENS_KEY].ttl_s)


def _bound_send_buffer(request: web.Request, size: int) -> None:
    """A fixed kernel send buffer per socket (autotuning grows it to megabytes): bounded memory per connection,
    and a client that stops reading fills its queue within seconds instead of minutes."""
    sock = request.transport.get_extra_info("socket") if request.transport is not None else None
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)


async def _refuse(ws: web.WebSocketResponse, error: Error, code: int = WSCloseCode.POLICY_VIOLATION) -> None:
    ERRORS.labels("gateway", error.code).inc()
    await ws.send_str(encoder.encode(error).decode())
    await ws.close(code=code, message=error.message.encode())


async def info(request: web.Request) -> web.Response:
    return web.json_response(
        {
            "service": "voicechat-gateway",
            "protocol": PROTOCOL_VERSION,
            "websocket": "/ws/voice-chat",
            "phone": {"webhook": VOICE_PATH, "stream": STREAM_PATH},
            "test_page": "/test",
            "sample_rates": list(SAMPLE_RATES),
        }
    )


async def healthz(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    nc = request.app[NATS_KEY]
    checks = {"nats": nc.is_connected, "accepting": not request.app[DRAINING_KEY].is_set()}
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
    """Drain within VOICECHAT_DRAIN_GRACE_S: refuse new sessions, and close each socket with 1001 (its client resumes
    elsewhere) as soon as its session has no turn under way, the rest when the grace leaves just the time to close;
    each close is bounded by VOICECHAT_SOCKET_CLOSE_TIMEOUT_S (a client that does not answer is cut off)."""
    app[DRAINING_KEY].set()
    tracker, settings, sockets = app[TRACKER_KEY], app[SETTINGS_KEY], app[SOCKETS_KEY]
    close_s = settings.socket_close_timeout_s
    deadline = time.monotonic() + max(0.0, settings.drain_grace_s - close_s)
    closing: dict[web.WebSocketResponse, asyncio.Task[None]] = {}
    while True:
        late = time.monotonic() >= deadline
        for ws, held in list(sockets.items()):
            owners = tracker.sessions.get(held.session_id)
            if ws not in closing and (late or owners is None or not owners.turns.busy):
                closing[ws] = asyncio.create_task(_close_within(ws, held.transport, close_s))
        if late or all(ws in closing for ws in sockets):
            break
        await asyncio.sleep(0.05)
    await asyncio.gather(*closing.values())


async def _close_within(ws: web.WebSocketResponse, transport: asyncio.Transport | None, close_s: float) -> None:
    """Close with 1001; a client that does not read (the close frame waits behind a full send buffer) or does not
    answer within `close_s` is cut off (its own close wait is bounded by the same timeout: WebSocketResponse)."""
    try:
        await asyncio.wait_for(
            ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown: resume elsewhere"), close_s
        )
    except TimeoutError:
        if transport is not None:
            transport.abort()


def _cors_defaults(settings: GatewaySettings) -> dict[str, aiohttp_cors.ResourceOptions]:
    """CORS for the plain HTTP endpoints: the allowed origins, or any origin when no allow-list is set."""
    options = aiohttp_cors.ResourceOptions(allow_methods=["GET"], allow_headers=("Authorization",))  # type: ignore[no-untyped-call]
    return {origin: options for origin in settings.allowed_origins or ("*",)}


def build_app(
    nc: NATS,
    settings: GatewaySettings,
    tracker: OwnerTracker,
    shoppers: ShopperDirectory,
    resume_key: bytes,
    convlog: LogWriter | None = None,
    batch: PublishBatch | None = None,
) -> web.Application:
    app = web.Application()
    app[PUBLISH_BATCH_KEY] = batch if batch is not None else PublishBatch(nc, 0.0)
    app[TOKENS_KEY] = ResumeTokens(resume_key, settings.resume_ttl_s)
    app[SHOPPERS_KEY] = shoppers
    app[NATS_KEY] = nc
    app[SETTINGS_KEY] = settings
    app[TRACKER_KEY] = tracker
    sockets: dict[web.WebSocketResponse, Socket] = {}
    app[SOCKETS_KEY] = sockets
    app[DRAINING_KEY] = asyncio.Event()
    app.router.add_get("/ws/voice-chat", voice_chat)
    if settings.phone_enabled:
        app.router.add_get(STREAM_PATH, twilio_stream)
        app.router.add_post(VOICE_PATH, voice_webhook(settings, resume_key))
    cors = aiohttp_cors.setup(app, defaults=_cors_defaults(settings))
    for path, handler in (("/", info), ("/healthz", healthz), ("/readyz", readyz), ("/metrics", metrics_handler)):
        cors.add(app.router.add_get(path, handler))
    if convlog is not None:
        app[CONVLOG_KEY] = convlog
        app[JETSTREAM_KEY], app[HISTORY_SETTINGS_KEY] = nc.jetstream(), settings
        history = aiohttp_cors.ResourceOptions(allow_methods=["GET", "DELETE"], allow_headers=("Authorization",))  # type: ignore[no-untyped-call]
        for method, handler in (("GET", get_history), ("DELETE", delete_history)):
            cors.add(
                app.router.add_route(method, PATH, handler), {o: history for o in settings.allowed_origins or ("*",)}
            )
    add_page_routes(app)
    app.on_shutdown.append(_close_sockets)
    return app
