"""Session ownership for per-session workers (VAD, dialog): claim, subscribe, heartbeat, release, hand over.

A free worker claims a new session through a queue group; the owner then subscribes to that session's subjects
without a queue group, and also answers the session's direct claim subject so a resumed session keeps its owner.
Heartbeats let gateways see a dead owner and re-claim its sessions elsewhere; a draining worker says so in its
heartbeat, stops claiming, and lets its sessions move before it exits.
"""

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Protocol

import msgspec
import structlog
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from shared import bus, subjects
from shared.logs import get_logger
from shared.metrics import CLAIMS, WORKER_SESSIONS
from shared.runtime import ServiceContext
from shared.subjects import WorkerKind

log = get_logger(__name__)

MsgHandler = Callable[[Msg], Awaitable[None]]


class SessionHandler(Protocol):
    """What a worker keeps per owned session."""

    def extra_subscriptions(self) -> dict[str, MsgHandler]: ...

    async def on_audio(self, seq: int, pcm: bytes) -> None: ...

    async def on_control(self, message: bus.Control) -> None: ...

    async def close(self) -> None: ...


HandlerFactory = Callable[[bus.Claim], SessionHandler]


class _Owned:
    __slots__ = ("handler", "last_seen", "subs")

    def __init__(self, handler: SessionHandler) -> None:
        self.handler = handler
        self.subs: list[Subscription] = []
        self.last_seen = time.monotonic()


class SessionWorker:
    """Runs the claim protocol for one worker process of `kind`, delegating each session to a handler."""

    def __init__(self, ctx: ServiceContext, kind: WorkerKind, factory: HandlerFactory) -> None:
        self.ctx = ctx
        self.kind = kind
        self.factory = factory
        self.worker_id = f"{kind}-{uuid.uuid4().hex[:12]}"
        self.sessions: dict[str, _Owned] = {}
        self.draining = False
        self._claim_sub: Subscription | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._lock = asyncio.Lock()
        self._emptied = asyncio.Event()

    async def start(self) -> None:
        nc = self.ctx.nc
        self._claim_sub = await nc.subscribe(
            subjects.claim(self.kind), queue=subjects.claim_queue(self.kind), cb=self._on_claim
        )
        await nc.subscribe(subjects.ping(self.kind), queue=subjects.claim_queue(self.kind), cb=self._on_ping)
        self._tasks = [asyncio.create_task(self._heartbeat_loop()), asyncio.create_task(self._idle_loop())]
        await nc.flush()
        log.info("worker_ready", worker_id=self.worker_id, kind=self.kind)

    async def drain(self, grace_s: float) -> None:
        """Stop claiming, tell gateways to move our sessions, wait (bounded) for them to go, then release the rest.

        Sessions whose gateway is gone (waiting for a resume) are not moved by anyone; they are released after the
        time a live gateway needs to move a session, so a drain never waits the whole grace period for them.
        """
        self.draining = True
        if self._claim_sub is not None:
            await self._claim_sub.unsubscribe()
        await self._publish_heartbeat()
        if self.sessions:
            self._emptied.clear()
            handover_s = min(grace_s, self.ctx.settings.owner_stale_s + self.ctx.settings.claim_timeout_s)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._emptied.wait(), handover_s)
        for session_id in list(self.sessions):
            await self.release(session_id, reason="shutdown")
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def ready(self) -> bool:
        return self.ctx.nc.is_connected and not self.draining

    async def _on_ping(self, msg: Msg) -> None:
        await msg.respond(self.worker_id.encode())

    async def _on_claim(self, msg: Msg) -> None:
        try:
            claim = bus.claim_decoder.decode(msg.data)
            if not subjects.is_session_id(claim.session_id):
                raise ValueError("bad session id")
        except (msgspec.DecodeError, ValueError):
            CLAIMS.labels(self.kind, "invalid").inc()
            log.warning("claim_invalid")
            return
        if self.draining:
            return
        async with self._lock:
            if claim.session_id not in self.sessions:
                await self._own(claim)
        CLAIMS.labels(self.kind, "resumed" if claim.resumed else "claimed").inc()
        await msg.respond(bus.encoder.encode(bus.Claimed(worker_id=self.worker_id)))

    async def _own(self, claim: bus.Claim) -> None:
        session_id = claim.session_id
        handler = self.factory(claim)
        owned = _Owned(handler)
        self.sessions[session_id] = owned
        nc = self.ctx.nc
        routes: dict[str, MsgHandler] = {
            subjects.audio(session_id): self._audio_cb(owned),
            subjects.control(session_id): self._control_cb(session_id, owned),
            subjects.session_claim(session_id, self.kind): self._on_claim,
            **handler.extra_subscriptions(),
        }
        for subject, cb in routes.items():
            owned.subs.append(await nc.subscribe(subject, cb=cb, pending_msgs_limit=4096))
        WORKER_SESSIONS.labels(self.kind).set(len(self.sessions))
        with structlog.contextvars.bound_contextvars(session_id=session_id):
            log.info("session_claimed", worker_id=self.worker_id, resumed=claim.resumed)

    def _audio_cb(self, owned: _Owned) -> MsgHandler:
        async def on_audio(msg: Msg) -> None:
            owned.last_seen = time.monotonic()
            try:
                seq, pcm = bus.unpack_frame(msg.data)
            except ValueError:
                log.warning("audio_frame_invalid")
                return
            await owned.handler.on_audio(seq, pcm)

        return on_audio

    def _control_cb(self, session_id: str, owned: _Owned) -> MsgHandler:
        async def on_control(msg: Msg) -> None:
            owned.last_seen = time.monotonic()
            try:
                message = bus.control_decoder.decode(msg.data)
            except msgspec.DecodeError:
                log.warning("control_invalid")
                return
            match message:
                case bus.ControlEnd():
                    await self.release(session_id, reason="ended")
                case bus.ControlOwner(kind=kind, worker_id=worker_id):
                    if kind == self.kind and worker_id != self.worker_id:
                        await self.release(session_id, reason="moved")
                case _:
                    await owned.handler.on_control(message)

        return on_control

    async def release(self, session_id: str, reason: str) -> None:
        owned = self.sessions.pop(session_id, None)
        if owned is None:
            return
        for sub in owned.subs:
            await sub.unsubscribe()
        await owned.handler.close()
        WORKER_SESSIONS.labels(self.kind).set(len(self.sessions))
        if not self.sessions:
            self._emptied.set()
        with structlog.contextvars.bound_contextvars(session_id=session_id):
            log.info("session_released", reason=reason)

    async def _publish_heartbeat(self) -> None:
        beat = bus.Heartbeat(kind=self.kind, worker_id=self.worker_id, draining=self.draining)
        await self.ctx.nc.publish(subjects.heartbeat(self.kind), bus.encoder.encode(beat))

    async def _heartbeat_loop(self) -> None:
        interval = self.ctx.settings.heartbeat_interval_s
        while True:
            if self.ctx.nc.is_connected:
                await self._publish_heartbeat()
            await asyncio.sleep(interval)

    async def _idle_loop(self) -> None:
        timeout = self.ctx.settings.session_idle_timeout_s
        while True:
            await asyncio.sleep(min(1.0, timeout / 4))
            now = time.monotonic()
            for session_id, owned in list(self.sessions.items()):
                if now - owned.last_seen > timeout:
                    await self.release(session_id, reason="idle")
