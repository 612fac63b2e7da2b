"""Worker ownership seen from the gateway: the adapter that runs each session's ownership machine
(shared/ownership.py) against the session records' KV bucket (shared/session_store.py), the claim subjects and the
workers' liveness keys (shared/liveness.py).

Every input reaches a session's machine synchronously; the I/O its actions ask for (compare-and-set writes, claim
requests, owner announcements) runs in tasks that report back as inputs, and never dies on an error: a write whose
outcome is unknown re-reads the record, a claim that fails counts as missed. The loops (liveness watch, ticks,
announcements) survive anything (shared/loops.py).
"""

import asyncio
import time
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass, field

import msgspec
from nats.aio.client import Client as NATS
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from gateway.handover import Handover
from gateway.link_probe import LinkProbe
from gateway.turns import TurnTracker
from shared import bus, subjects
from shared.liveness import LivenessWatch, WorkerBeat, open_workers_bucket
from shared.logs import get_logger
from shared.loops import ErrorBurst, forever, guarded
from shared.metrics import OWNER_MOVES, OWNERSHIP_WRITES, UNANSWERED_REQUESTS
from shared.ownership import (
    Action,
    Announce,
    Delete,
    GiveUp,
    OwnerLost,
    OwnershipMachine,
    Phase,
    Progress,
    Ready,
    Replaced,
    SendClaim,
    Write,
)
from shared.session_record import SessionRecord
from shared.session_store import SessionStore
from shared.settings import GatewaySettings
from shared.subjects import WORKER_KINDS, WorkerKind

log = get_logger(__name__)

TICK_S = 0.1


@dataclass
class SessionOwners:
    """What the gateway knows of one of its sessions: its ownership machine, and its turns (fed by its connection).

    The connection awaits `ready` (or `gave_up`), `turn_lost` (the turn under way died with its worker, or its
    events with the bus), `resend` (the link dropped before any event answered a typed request: send it again),
    `moving` then `settled` (an owner moves) and `replaced` (another socket took the session over)
    (gateway/connection.py)."""

    session_id: str
    machine: OwnershipMachine
    turns: TurnTracker
    next_seq: int = 0  # the connection's next audio frame, recorded with every write
    resumed: bool = False  # claims say so: the worker keeps (or rebuilds) the session's state
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    gave_up: WorkerKind | None = None
    turn_lost: asyncio.Event = field(default_factory=asyncio.Event)
    resend: asyncio.Event = field(default_factory=asyncio.Event)
    replaced: asyncio.Event = field(default_factory=asyncio.Event)
    moving: asyncio.Event = field(default_factory=asyncio.Event)  # an owner moves: hold what the client sends
    settled: asyncio.Event = field(default_factory=asyncio.Event)  # every kind is owned again: release it
    handover: Handover | None = None  # the turn a draining owner still finishes
    # the newest dialog epoch not to be heard: its owner was judged crashed, or its claim was missed (a worker
    # that answers too late, e.g. one that was stalled, owns an epoch nobody records)
    fenced_dialog_epoch: int = 0

    def epoch(self, kind: WorkerKind) -> int:
        return self.machine.record.owner(kind).epoch

    def fence_dialog(self, epoch: int) -> None:
        self.fenced_dialog_epoch = max(self.fenced_dialog_epoch, epoch)

    def claim_turn_base(self) -> int:
        """Where the next owner numbers turns from: past every turn seen, and past a turn reported lost (a retry
        right after a crash must not reuse the lost turn's id)."""
        turns = self.turns
        return max(self.machine.record.last_turn_id, turns.last_turn_id, turns.ended_through)


class OwnerTracker:
    def __init__(self, nc: NATS, settings: GatewaySettings) -> None:
        self.nc = nc
        self.settings = settings
        self.sessions: dict[str, SessionOwners] = {}
        self.liveness: LivenessWatch | None = None
        self.link = LinkProbe(nc)
        self._store: SessionStore | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._io: set[asyncio.Task[None]] = set()
        self._writes = ErrorBurst("ownership_write")
        self._publishes = ErrorBurst("ownership_publish")

    async def start(self) -> None:
        js = self.nc.jetstream()
        # Record writes time out within a claim's time and are retried, so a session starts within its bound
        # (VOICECHAT_SESSION_START_TIMEOUT_S) once a KV leader is back.
        store_js = self.nc.jetstream(timeout=self.settings.claim_timeout_s)
        self._store = await SessionStore.open(store_js, self.settings)
        self.liveness = LivenessWatch(await open_workers_bucket(js, self.settings), self._liveness_changed)
        await self.link.start()
        self._tasks = [
            asyncio.create_task(forever("link_probe", self.link.send, self.link.interval_s)),
            asyncio.create_task(self.liveness.run()),
            asyncio.create_task(forever("ownership_tick", self._tick, TICK_S)),
            asyncio.create_task(forever("owner_announce", self._announce_all, self.settings.announce_interval_s)),
        ]
        await asyncio.wait_for(self.liveness.synced.wait(), 10)

    async def stop(self) -> None:
        for task in [*self._tasks, *self._io]:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._io, return_exceptions=True)

    @property
    def store(self) -> SessionStore:
        assert self._store is not None, "OwnerTracker.start() first"
        return self._store

    # -- sessions -----------------------------------------------------------------------------------------------

    async def open(
        self, session_id: str, language: str, subject: str | None, resumed: bool, resume_epoch: int = 0
    ) -> SessionOwners | None:
        """Open a session for a new socket (a resume continues from the record); None for a resume when the
        record is gone (the session ended), belongs to another authenticated subject, or another socket took the
        session after the resume token (of dialog epoch `resume_epoch`) was issued."""
        record, revision = await self.store.get(session_id) if resumed else (None, 0)
        if resumed and (record is None or record.subject != subject or not record.accepts(resume_epoch)):
            return None
        connection = uuid.uuid4().hex
        base = record or SessionRecord(session_id=session_id, connection=connection)
        mine = msgspec.structs.replace(base, connection=connection, language=language, subject=subject)
        confirm_s = self.settings.heartbeat_interval_s * 2
        retry_s = self.settings.claim_timeout_s / 2
        machine = OwnershipMachine(mine, revision, confirm_s=confirm_s, retry_s=retry_s, admitted_epoch=resume_epoch)
        owners = SessionOwners(
            session_id, machine, TurnTracker(base.last_turn_id), next_seq=base.audio_seq, resumed=resumed
        )
        previous = self.sessions.get(session_id)
        if previous is not None:
            previous.replaced.set()  # the same session on this gateway: the newer socket takes it over
        self.sessions[session_id] = owners
        alive = self.liveness.alive() if self.liveness is not None else frozenset()
        self._apply(owners, machine.open(alive))
        return owners

    def close(self, owners: SessionOwners, ended: bool) -> None:
        if self.sessions.get(owners.session_id) is owners:
            del self.sessions[owners.session_id]
        self._apply(owners, self._fed(owners).close(ended))

    def newer_epoch(self, owners: SessionOwners, kind: WorkerKind, epoch: int) -> None:
        self._apply(owners, self._fed(owners).newer_epoch(kind, epoch))

    async def nats_disconnected(self) -> None:
        """Cut off from NATS: remember which sessions had a turn under way."""
        for owners in self.sessions.values():
            owners.turns.cut_off()

    async def nats_reconnected(self) -> None:
        """Events published while this gateway was cut off from NATS are gone: a turn under way since the link
        dropped is reported lost, or, when no event had answered its typed request yet, the request is sent again
        (the dialog worker drops the copy of one it has). A request typed while the link was down was buffered and
        has just been sent: it is answered, or reported lost when no event answers it in time (`take_overdue`)."""
        if self.liveness is not None:
            self.liveness.resync()
        for owners in list(self.sessions.values()):
            if not owners.turns.under_way_since_cut():
                continue
            if owners.turns.hold_to_resend():
                owners.resend.set()
            else:
                owners.turn_lost.set()

    # -- inputs -------------------------------------------------------------------------------------------------

    def _fed(self, owners: SessionOwners) -> OwnershipMachine:
        """The machine, told how far the session has come (recorded with its next write)."""
        machine = owners.machine
        machine.progress = Progress(owners.claim_turn_base(), max(owners.next_seq, machine.progress.audio_seq))
        return machine

    def _liveness_changed(self, worker_id: str, beat: WorkerBeat | None) -> None:
        now = time.monotonic()
        for owners in list(self.sessions.values()):
            machine = self._fed(owners)
            if beat is None:
                actions = machine.worker_gone(worker_id, now)
            elif beat.draining:
                actions = machine.worker_draining(worker_id)
            else:
                actions = machine.worker_seen(worker_id)
            self._apply(owners, actions)

    async def _tick(self) -> None:
        now = time.monotonic()
        link_up = self.link.up(now)
        for owners in list(self.sessions.values()):
            self._apply(owners, self._fed(owners).tick(now))
            if not link_up:  # nothing can answer a request now: its time runs once the bus carries messages again
                owners.turns.bus_stalled(now + self.settings.turn_answer_timeout_s)
            elif owners.turns.take_overdue(now):  # the request or its answer was lost on the way
                UNANSWERED_REQUESTS.inc()
                owners.turn_lost.set()

    # -- actions ------------------------------------------------------------------------------------------------

    def _apply(self, owners: SessionOwners, actions: list[Action]) -> None:
        for action in actions:
            match action:
                case Write() | Delete():
                    self._spawn(self._write(owners, action))
                case SendClaim():
                    self._spawn(self._claim(owners, action))
                case Announce(kind=kind, worker_id=worker_id, epoch=epoch):
                    self._spawn(self._announce(owners.session_id, kind, worker_id, epoch))
                case OwnerLost(kind=kind, crashed=crashed):
                    self._owner_lost(owners, kind, crashed)
                case Ready() if owners.ready.is_set():
                    owners.moving.clear()
                    owners.settled.set()
                case Ready():
                    owners.ready.set()
                case GiveUp(kind=kind):
                    owners.gave_up = kind
                    owners.ready.set()
                case Replaced():
                    owners.replaced.set()

    def _owner_lost(self, owners: SessionOwners, kind: WorkerKind, crashed: bool) -> None:
        log.info("session_owner_lost", kind=kind, crashed=crashed)
        OWNER_MOVES.labels(kind, "crashed" if crashed else "draining").inc()
        if owners.ready.is_set():
            owners.moving.set()
        if kind == "dialog" and crashed:
            owners.fence_dialog(owners.epoch("dialog"))  # a stalled owner that wakes is not heard
        if kind != "dialog" or not owners.turns.busy:
            return
        if crashed and not owners.turns.hold_to_resend():
            owners.turn_lost.set()  # the turn under way died with its worker: say so rather than go quiet
        elif owners.turns.open_turn is not None:
            owners.handover = Handover(owners.epoch("dialog"), owners.turns.open_turn)  # the draining owner finishes it

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._io.add(task)
        task.add_done_callback(self._io.discard)

    async def _write(self, owners: SessionOwners, action: Write | Delete) -> None:
        store = self.store
        if isinstance(action, Delete):
            await guarded(self._writes, store.delete(owners.session_id, action.revision))
            return
        while True:
            try:
                revision = await store.write(action.record, action.revision)
                if revision is not None:
                    OWNERSHIP_WRITES.labels("ok").inc()
                    self._apply(owners, owners.machine.write_done(revision))
                    return
                OWNERSHIP_WRITES.labels("conflict").inc()
                fresh, current = await store.get(owners.session_id)
                self._apply(owners, owners.machine.write_conflict(fresh, current))
                return
            except Exception as exc:  # noqa: BLE001 - NATS down or timed out: learn the outcome once it is back
                OWNERSHIP_WRITES.labels("error").inc()
                self._writes.failed(exc)
                if await self._outcome(owners) or self._abandoned(owners, action):
                    return
                await asyncio.sleep(self.settings.claim_timeout_s / 2)

    @staticmethod
    def _abandoned(owners: SessionOwners, write: Write) -> bool:
        """A session closed before its record was ever written (it never started) stops retrying its first write:
        a record that did land meanwhile ages out with the bucket."""
        return write.revision == 0 and owners.machine.phase is Phase.CLOSED

    async def _outcome(self, owners: SessionOwners) -> bool:
        """After a write error: read the record and let the machine judge whether the write landed."""
        try:
            fresh, current = await self.store.get(owners.session_id)
        except Exception as exc:  # noqa: BLE001 - still unreachable: the caller retries
            self._writes.failed(exc)
            return False
        self._apply(owners, owners.machine.write_conflict(fresh, current))
        return True

    async def _claim(self, owners: SessionOwners, action: SendClaim) -> None:
        machine = owners.machine
        claim = bus.Claim(
            session_id=owners.session_id,
            language=machine.record.language,
            resumed=owners.resumed or owners.ready.is_set(),
            last_turn_id=owners.claim_turn_base(),
            epoch=action.epoch,
            audio_seq=owners.next_seq,
        )
        kind = action.kind
        subject = subjects.session_claim(owners.session_id, kind) if action.direct else subjects.claim(kind)
        worker_id = await self._request(subject, bus.encoder.encode(claim))
        if worker_id is None:
            if kind == "dialog":
                owners.fence_dialog(action.epoch)
            self._apply(owners, self._fed(owners).claim_missed(action.kind, action.epoch, time.monotonic()))
        else:
            self._apply(owners, self._fed(owners).claimed(action.kind, action.epoch, worker_id))

    async def _request(self, subject: str, payload: bytes) -> str | None:
        try:
            reply = await self.nc.request(subject, payload, timeout=self.settings.claim_timeout_s)
            return bus.claimed_decoder.decode(reply.data).worker_id
        except (NoRespondersError, NatsTimeout):
            return None
        except msgspec.DecodeError:
            log.warning("claim_reply_invalid")
            return None
        except Exception as exc:  # noqa: BLE001 - disconnected, buffer full: the claim is missed and retried
            self._publishes.failed(exc)
            return None

    async def _announce_all(self) -> None:
        for owners in list(self.sessions.values()):
            for kind in WORKER_KINDS:
                worker_id = owners.machine.owner(kind)
                if worker_id is not None:
                    await self._announce(owners.session_id, kind, worker_id, owners.epoch(kind))

    async def _announce(self, session_id: str, kind: str, worker_id: str, epoch: int) -> None:
        announce = bus.ControlOwner(kind=kind, worker_id=worker_id, epoch=epoch)
        await guarded(self._publishes, self.nc.publish(subjects.control(session_id), bus.encoder.encode(announce)))
