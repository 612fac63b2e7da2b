"""Session ownership for per-session workers (VAD, dialog): claim, subscribe, heartbeat, release, hand over.

A free worker claims a new session through a queue group; the owner then subscribes to that session's subjects
without a queue group, and also answers the session's direct claim subject so a resumed session keeps its owner.
Each claim carries the ownership epoch the worker takes (shared/ownership.py reserves it in the session record);
every message of the session is judged by its epoch (shared/epochs.py): an older one is dropped and counted, a
newer one means another worker owns the session now, and this one lets go.
Liveness keys (shared/liveness.py) let gateways see a dead owner and re-claim its sessions elsewhere; a draining
worker says so in its key, stops claiming, and lets its sessions move before it exits. No background loop of
this module can die on an error (shared/loops.py).
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

from shared import bus, subjects, tracing
from shared.epochs import EpochFilter, Verdict
from shared.kv import when_ready
from shared.liveness import Beacon, open_workers_bucket
from shared.logs import get_logger
from shared.loops import ErrorBurst, forever, guarded
from shared.metrics import CLAIMS, STALE_EPOCH, WORKER_SESSIONS
from shared.runtime import ServiceContext
from shared.settings import SessionPlaneSettings
from shared.subjects import WORKER_KINDS, WorkerKind

log = get_logger(__name__)

MsgHandler = Callable[[Msg], Awaitable[None]]


class SessionHandler(Protocol):
    """What a worker keeps per owned session."""

    def extra_subscriptions(self) -> dict[str, MsgHandler]: ...

    async def on_audio(self, seq: int, pcm: bytes, msg: Msg) -> None:
        """A frame admitted by its epoch (`msg`: the NATS message it came in, its subject and raw frame)."""

    async def on_control(self, message: bus.Control) -> None: ...

    def confirm(self) -> None:
        """The gateway announced this worker as the owner: from here on, this worker alone acts on the session.

        The announcement travels on the control subject, after every control message meant for a previous owner,
        so exactly one owner handles each message across a handover."""

    async def finish(self, grace_s: float) -> None:
        """Start no new work; wait (at most `grace_s`) for the work in flight."""

    async def close(self) -> None: ...


HandlerFactory = Callable[[bus.Claim, EpochFilter], SessionHandler]
"""Builds a session's handler from its claim and its epoch filter (whose `epoch` stamps what the handler sends)."""


class _Owned:
    __slots__ = ("fence", "handler", "last_seen", "subs")

    def __init__(self, handler: SessionHandler, fence: EpochFilter) -> None:
        self.handler = handler
        self.fence = fence
        self.subs: list[Subscription] = []
        self.last_seen = time.monotonic()


class SessionWorker:
    """Runs the claim protocol for one worker process of `kind`, delegating each session to a handler."""

    def __init__(
        self,
        ctx: ServiceContext[SessionPlaneSettings],
        kind: WorkerKind,
        factory: HandlerFactory,
        audio_of: Callable[[str], str] = subjects.audio,
    ) -> None:
        """`audio_of`: the subject of a session's frames for this worker (the dialog worker's turn audio, when the
        VAD forwards it: `VOICECHAT_TURN_AUDIO`); its frames are fenced like the session's audio."""
        self.ctx = ctx
        self.kind = kind
        self.factory = factory
        self.audio_of = audio_of
        self.worker_id = f"{kind}-{uuid.uuid4().hex[:12]}"
        self.sessions: dict[str, _Owned] = {}
        self.draining = False
        self._claim_sub: Subscription | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._lock = asyncio.Lock()
        self._emptied = asyncio.Event()
        self._retiring: dict[str, asyncio.Task[None]] = {}  # sessions moved away while draining
        self._drain_deadline = 0.0
        self._epoch_index = WORKER_KINDS.index(kind)
        self._stale = STALE_EPOCH.labels(kind)
        self._replies = ErrorBurst(f"{kind}_claim_reply")
        self._releases = ErrorBurst(f"{kind}_release")
        self._beacon: Beacon | None = None

    async def start(self) -> None:
        nc = self.ctx.nc
        settings = self.ctx.settings
        kv = await open_workers_bucket(nc.jetstream(), settings)
        self._beacon = Beacon(kv, self.worker_id, self.kind, settings.heartbeat_interval_s)
        await when_ready("liveness_beacon", self._beacon.refresh)
        self._claim_sub = await nc.subscribe(
            subjects.claim(self.kind), queue=subjects.claim_queue(self.kind), cb=self._on_claim
        )
        await nc.subscribe(subjects.ping(self.kind), queue=subjects.claim_queue(self.kind), cb=self._on_ping)
        idle_every = min(1.0, settings.session_idle_timeout_s / 4)
        self._tasks = [
            asyncio.create_task(self._beacon.run()),
            asyncio.create_task(forever(f"{self.kind}_idle", self._release_idle, idle_every)),
        ]
        await nc.flush()
        log.info("worker_ready", worker_id=self.worker_id, kind=self.kind)

    async def drain(self, grace_s: float) -> None:
        """Stop claiming and tell gateways to move our sessions; in-flight work finishes within `grace_s`.

        A session the gateway moves elsewhere retires: it finishes its running turn, then is released. Sessions
        nobody moves (their gateway is gone, waiting for a resume) are retired once a live gateway would have
        moved them, their running turns stopped at once, so a drain never waits the whole grace period for them.
        """
        self.draining = True
        self._drain_deadline = time.monotonic() + grace_s
        burst = ErrorBurst(f"{self.kind}_drain")
        if self._claim_sub is not None:
            await guarded(burst, self._claim_sub.unsubscribe())
        if self._beacon is not None:
            await guarded(burst, self._beacon.draining())
        if self.sessions:
            self._emptied.clear()
            handover_s = min(grace_s, self.ctx.settings.owner_stale_s + self.ctx.settings.claim_timeout_s)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._emptied.wait(), handover_s)
        unattended = [session_id for session_id in self.sessions if session_id not in self._retiring]
        await asyncio.gather(*(self._retire(session_id, finish=False) for session_id in unattended))
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._retiring.values(), return_exceptions=True)
        if self._beacon is not None:
            await guarded(burst, self._beacon.leave())

    async def _retire(self, session_id: str, finish: bool = True) -> None:
        """Release a session; a moved one (`finish`) first completes its running turns within the drain's grace,
        an unattended one (no gateway moved it) stops them at once: nobody would hear them."""
        owned = self.sessions.get(session_id)
        if owned is not None:
            await owned.handler.finish(max(0.0, self._drain_deadline - time.monotonic()) if finish else 0.0)
        await self.release(session_id, reason="drained")

    def ready(self) -> bool:
        return self.ctx.nc.is_connected and not self.draining

    async def _on_ping(self, msg: Msg) -> None:
        await guarded(self._replies, msg.respond(self.worker_id.encode()))

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
            owned = self.sessions.get(claim.session_id)
            if owned is None:
                await self._own(claim)
            elif not owned.fence.advance(claim.epoch):
                self._stale.inc()  # a claim under an epoch already superseded: not ours to take
                return
        CLAIMS.labels(self.kind, "resumed" if claim.resumed else "claimed").inc()
        await guarded(self._replies, msg.respond(bus.encoder.encode(bus.Claimed(worker_id=self.worker_id))))

    async def _own(self, claim: bus.Claim) -> None:
        session_id = claim.session_id
        fence = EpochFilter(epoch=claim.epoch)
        handler = self.factory(claim, fence)
        owned = _Owned(handler, fence)
        self.sessions[session_id] = owned
        nc = self.ctx.nc
        routes: dict[str, MsgHandler] = {
            self.audio_of(session_id): self._audio_cb(session_id, owned),
            subjects.control(session_id): self._control_cb(session_id, owned),
            subjects.session_claim(session_id, self.kind): self._on_claim,
            **handler.extra_subscriptions(),
        }
        for subject, cb in routes.items():
            owned.subs.append(await nc.subscribe(subject, cb=cb, pending_msgs_limit=4096))
        WORKER_SESSIONS.labels(self.kind).set(len(self.sessions))
        with structlog.contextvars.bound_contextvars(session_id=session_id):
            log.info("session_claimed", worker_id=self.worker_id, resumed=claim.resumed)

    def _audio_cb(self, session_id: str, owned: _Owned) -> MsgHandler:
        index = self._epoch_index

        async def on_audio(msg: Msg) -> None:
            owned.last_seen = time.monotonic()
            try:
                seq, epochs, pcm = bus.unpack_frame(msg.data)
            except ValueError:
                log.warning("audio_frame_invalid")
                return
            epoch = epochs[index]
            if await self._admits(session_id, owned, epoch) or self._still_hears(session_id, owned, epoch):
                await owned.handler.on_audio(seq, pcm, msg)

        return on_audio

    async def _admits(self, session_id: str, owned: _Owned, epoch: int) -> bool:
        """Judge a message by its epoch: act on the current one; drop an older one; let go on a newer one."""
        verdict = owned.fence.judge(epoch)
        if verdict is Verdict.STALE:
            self._stale.inc()
        elif verdict is Verdict.NEWER:
            await self._moved(session_id)
        return verdict is Verdict.CURRENT

    def _still_hears(self, session_id: str, owned: _Owned, epoch: int) -> bool:
        """A draining dialog owner whose session moved still hears its audio until it lets go: the utterance of
        the turn it finishes goes on in frames of the new epoch (the VAD's events reach both owners anyway)."""
        return self.kind == "dialog" and epoch > owned.fence.epoch and session_id in self._retiring

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
                case bus.ControlOwner(kind=kind, worker_id=worker_id, epoch=epoch) if kind == self.kind:
                    if worker_id == self.worker_id and owned.fence.advance(epoch):
                        owned.handler.confirm()
                    elif worker_id != self.worker_id and owned.fence.judge(epoch) is not Verdict.STALE:
                        await self._moved(session_id)
                    else:
                        self._stale.inc()
                case bus.ControlOwner():  # the other kind's owner: its epoch fences that kind's events here
                    await owned.handler.on_control(message)
                case _:
                    # controls carry the dialog epoch; the VAD only needs the release ones, handled above
                    if self.kind != "dialog" or await self._admits(session_id, owned, message.epoch):
                        with tracing.receiving(msg.headers):
                            await owned.handler.on_control(message)

        return on_control

    async def _moved(self, session_id: str) -> None:
        """Another worker owns the session now: let go at once, or (draining) after the running turn."""
        if session_id not in self.sessions:
            return
        if not self.draining:
            await self.release(session_id, reason="moved")
            return
        if session_id in self._retiring:
            return  # every frame of the new epoch says so again: one retirement is enough
        task = asyncio.create_task(self._retire(session_id))
        self._retiring[session_id] = task
        task.add_done_callback(lambda _: self._retiring.pop(session_id, None))

    async def release(self, session_id: str, reason: str) -> None:
        owned = self.sessions.pop(session_id, None)
        if owned is None:
            return
        for sub in owned.subs:
            await guarded(self._releases, sub.unsubscribe())  # the connection may be closing or cut off
        await owned.handler.close()
        WORKER_SESSIONS.labels(self.kind).set(len(self.sessions))
        if not self.sessions:
            self._emptied.set()
        with structlog.contextvars.bound_contextvars(session_id=session_id):
            log.info("session_released", reason=reason)

    async def _release_idle(self) -> None:
        timeout = self.ctx.settings.session_idle_timeout_s
        now = time.monotonic()
        for session_id, owned in list(self.sessions.items()):
            if now - owned.last_seen > timeout:
                await self.release(session_id, reason="idle")
