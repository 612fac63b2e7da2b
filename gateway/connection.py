"""One client WebSocket: validates what it reads, drives the session state machine, relays worker events."""

import asyncio
import contextlib
import time

import msgspec
import structlog
from aiohttp import WSMsgType, web
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from gateway.inbound import ClientError, audio_of, binary_audio, parse_text
from gateway.owners import ClaimFailed, OwnerTracker, SessionOwners
from gateway.session import Action, GatewaySession, PublishAudio, PublishControl, Reply
from gateway.tokens import resume_token
from shared import bus, subjects
from shared.audio import StreamResampler
from shared.logs import get_logger
from shared.metrics import ERRORS, WS_MESSAGES
from shared.protocol import (
    AudioChunk,
    BargeIn,
    EndSession,
    Error,
    ErrorCode,
    Ping,
    Pong,
    ServerEvent,
    SessionStart,
    StartSpeaking,
    StopSpeaking,
    TextInput,
    encoder,
)
from shared.settings import Settings

log = get_logger(__name__)

_CONTROLS: dict[type, bus.Control] = {
    BargeIn: bus.ControlBargeIn(),
    StartSpeaking: bus.ControlStartSpeaking(),
    StopSpeaking: bus.ControlStopSpeaking(),
}


class Connection:
    def __init__(
        self, ws: web.WebSocketResponse, nc: NATS, tracker: OwnerTracker, settings: Settings, secret: bytes
    ) -> None:
        self.ws = ws
        self.nc = nc
        self.tracker = tracker
        self.settings = settings
        self.secret = secret
        self.session = GatewaySession(max_held_frames=settings.pre_ready_audio_ms // 20)
        self.owners: SessionOwners | None = None
        self.ended = False

    async def run(self, session_id: str, sample_rate: int, language: str, resumed: bool) -> None:
        owners = SessionOwners(session_id=session_id, language=language)
        self.owners = owners
        self.tracker.sessions[session_id] = owners
        resampler = StreamResampler(sample_rate)
        relay = await self.nc.subscribe(subjects.events(session_id), cb=self._relay)
        claim = asyncio.create_task(self._claim(owners, sample_rate, resumed))
        try:
            with structlog.contextvars.bound_contextvars(session_id=session_id):
                log.info("session_open", sample_rate=sample_rate, resumed=resumed)
                await self._read(resampler)
        finally:
            claim.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await claim
            await self._close(relay, session_id)

    async def _claim(self, owners: SessionOwners, sample_rate: int, resumed: bool) -> None:
        try:
            await self.tracker.claim_all(owners, resumed)
        except ClaimFailed as exc:
            code: ErrorCode = "dialog_unavailable" if exc.kind == "dialog" else "overloaded"
            await self._send(Error(code=code, message=str(exc), fatal=True))
            await self.ws.close(code=1013, message=b"no worker available")
            return
        await self._apply(self.session.claimed())
        token = resume_token(self.secret, owners.session_id)
        start = SessionStart(
            session_id=owners.session_id,
            resume_token=token,
            sample_rate=sample_rate,
            language=owners.language,
            resumed=resumed,
        )
        await self._send(start)

    async def _read(self, resampler: StreamResampler) -> None:
        async for msg in self.ws:
            try:
                if msg.type is WSMsgType.BINARY:
                    WS_MESSAGES.labels("in", "binary").inc()
                    await self._apply(self.session.audio(resampler.push(binary_audio(msg.data))))
                elif msg.type is WSMsgType.TEXT:
                    await self._on_text(msg.data, resampler)
                if self.ended:
                    break
            except ClientError as exc:
                ERRORS.labels("gateway", exc.code).inc()
                await self._send(Error(code=exc.code, message=exc.message, fatal=False))

    async def _on_text(self, data: str, resampler: StreamResampler) -> None:
        message = parse_text(data)
        WS_MESSAGES.labels("in", type(message).__struct_config__.tag or "unknown").inc()
        match message:
            case AudioChunk():
                await self._apply(self.session.audio(resampler.push(audio_of(message))))
            case Ping():
                await self._send(Pong())
            case TextInput(text=text):
                await self._apply(self.session.control(bus.ControlText(text=text)))
            case EndSession():
                self.ended = True
            case _:
                await self._apply(self.session.control(_CONTROLS[type(message)]))

    async def _apply(self, actions: list[Action]) -> None:
        if self.owners is None:
            return
        session_id = self.owners.session_id
        for action in actions:
            match action:
                case PublishAudio(seq=seq, pcm=pcm):
                    await self.nc.publish(subjects.audio(session_id), bus.pack_frame(seq, pcm))
                case PublishControl(message=message):
                    await self.nc.publish(subjects.control(session_id), bus.encoder.encode(message))
                case Reply(event=event):
                    await self._send(event)

    async def _relay(self, msg: Msg) -> None:
        """Worker events are already protocol v1 JSON: read their type and turn, then pass them through."""
        try:
            peek = bus.peek_decoder.decode(msg.data)
        except msgspec.DecodeError:
            log.warning("event_invalid")
            return
        if self.owners is not None and peek.turn_id is not None and peek.turn_id > self.owners.last_turn_id:
            self.owners.last_turn_id = peek.turn_id
        WS_MESSAGES.labels("out", peek.type).inc()
        if not self.ws.closed:
            await self.ws.send_str(msg.data.decode())

    async def _send(self, event: ServerEvent) -> None:
        if self.ws.closed:
            return
        WS_MESSAGES.labels("out", type(event).__struct_config__.tag or "unknown").inc()
        await self.ws.send_str(encoder.encode(event).decode())

    async def _close(self, relay: Subscription, session_id: str) -> None:
        self.session.close()
        self.tracker.sessions.pop(session_id, None)
        await relay.unsubscribe()
        if self.ended:
            await self.nc.publish(subjects.control(session_id), bus.encoder.encode(bus.ControlEnd()))
            await self.ws.close(code=1000, message=b"session ended")
        with structlog.contextvars.bound_contextvars(session_id=session_id):
            log.info("session_closed", ended=self.ended, at=time.time())
