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
from shared.settings import SessionPlaneSettings
from shared.subjects import WorkerKind

log = get_logger(__name__)

MsgHandler = Callable[[Msg], Awaitable[None]]


class SessionHandler(Protocol):
    """What a worker keeps per owned session."""

    def extra_subscriptions(self) -> dict[str, MsgHandler]: ...

    async def on_audio(self, seq: int, pcm: bytes) -> None: ...

    async def on_control(self, message: bus.Control) -> None: ...

    def confirm(self) -> None:
        """The gateway announced this worker as the owner: from here on, this worker alone acts on the session.

        The announcement travels on the control subject, after every control message meant for a previous owner,
        so exactly one owner handles each message across a handover."""

    async def finish(self, grace_s: float) -> None:
        """Start no new work; wait (at most `grace_s`) for the work in flight."""

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

    def __init__(self, ctx: ServiceContext[SessionPlaneSettings], kind: WorkerKind, factory: HandlerFactory) -> None:
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
        self._retiring: set[asyncio.Task[None]] = set()
        self._drain_deadline = 0.0

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
        """Stop claiming and tell gateways to move our sessions; in-flight work finishes within `grace_s`.

        A session the gateway moves elsewhere retires: it finishes its running turn, then is released. Sessions
        nobody moves (their gateway is gone, waiting for a resume) are retired once a live gateway would have
        moved them, so a drain never waits the whole grace period for them.
        """
        self.draining = True
        self._drain_deadline = time.monotonic() + grace_s
        if self._claim_sub is not None:
            await self._claim_sub.unsubscribe()
        await self._publish_heartbeat()
        if self.sessions:
            self._emptied.clear()
            handover_s = min(grace_s, self.ctx.settings.owner_stale_s + self.ctx.settings.claim_timeout_s)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._emptied.wait(), handover_s)
        await asyncio.gather(*(self._retire(session_id) for session_id in list(self.sessions)))
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._retiring, return_exceptions=True)

    async def _retire(self, session_id: str) -> None:
        owned = self.sessions.get(session_id)
        if owned is not None:
            await owned.handler.finish(max(0.0, self._drain_deadline - time.monotonic()))
        await self.release(session_id, reason="drained")

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
                case bus.ControlOwner(kind=kind, worker_id=worker_id) if kind == self.kind:
                    if worker_id == self.worker_id:
                        owned.handler.confirm()
                    else:
                        await self._moved(session_id)
                case _:
                    await owned.handler.on_control(message)

        return on_control

    async def _moved(self, session_id: str) -> None:
        """Another worker owns the session now: let go at once, or (draining) after the running turn."""
        if not self.draining:
            await self.release(session_id, reason="moved")
            return
        task = asyncio.create_task(self._retire(session_id))
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

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
