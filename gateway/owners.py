"""Worker ownership seen from the gateway: claims, heartbeats, and re-claiming sessions whose owner died or drains.

A claim first asks the session's current owner directly (a resumed session keeps its worker and its state);
with no responder it goes to the queue group, where one free worker takes it. After each claim the gateway
announces the owner on the session's control subject, so a previous owner lets go.
"""

import asyncio
import time
from dataclasses import dataclass, field

import msgspec
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from gateway.turns import TurnTracker
from shared import bus, subjects
from shared.logs import get_logger
from shared.settings import GatewaySettings
from shared.subjects import WORKER_KINDS, WorkerKind

log = get_logger(__name__)


class ClaimFailed(Exception):
    def __init__(self, kind: WorkerKind) -> None:
        super().__init__(f"no {kind} worker could take the session")
        self.kind = kind


@dataclass
class SessionOwners:
    """What the gateway knows of one of its sessions: its owners, and its turns (fed by its connection).

    When the turn under way dies with its worker, or its events with the bus, `turn_lost` is set: the connection
    awaits it and reports the turn (gateway/connection.py).
    """

    session_id: str
    language: str
    owners: dict[str, str] = field(default_factory=dict)
    reclaiming: set[str] = field(default_factory=set)
    turns: TurnTracker = field(default_factory=TurnTracker)
    turn_lost: asyncio.Event = field(default_factory=asyncio.Event)


class OwnerTracker:
    def __init__(self, nc: NATS, settings: GatewaySettings) -> None:
        self.nc = nc
        self.settings = settings
        self.sessions: dict[str, SessionOwners] = {}
        self._last_beat: dict[str, float] = {}
        self._draining: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self._reclaims: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await self.nc.subscribe(subjects.HEARTBEAT_ALL, cb=self._on_heartbeat)
        self._task = asyncio.create_task(self._watch())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _on_heartbeat(self, msg: Msg) -> None:
        try:
            beat = bus.heartbeat_decoder.decode(msg.data)
        except msgspec.DecodeError:
            log.warning("heartbeat_invalid")
            return
        self._last_beat[beat.worker_id] = time.monotonic()
        if beat.draining:
            self._draining.add(beat.worker_id)
        else:
            self._draining.discard(beat.worker_id)

    def healthy(self, worker_id: str, now: float) -> bool:
        seen = self._last_beat.get(worker_id)
        if seen is None or worker_id in self._draining:
            return False
        return now - seen < self.settings.owner_stale_s

    async def claim_all(self, owners: SessionOwners, resumed: bool) -> None:
        """Claim every worker kind for a session (in parallel); raises ClaimFailed."""
        await asyncio.gather(*(self.claim(owners, kind, resumed, direct=resumed) for kind in WORKER_KINDS))

    async def claim(self, owners: SessionOwners, kind: WorkerKind, resumed: bool, direct: bool) -> None:
        claim = bus.Claim(
            session_id=owners.session_id,
            language=owners.language,
            resumed=resumed,
            last_turn_id=owners.turns.last_turn_id,
        )
        payload = bus.encoder.encode(claim)
        wait = self.settings.claim_timeout_s
        worker_id = (
            await self._request(subjects.session_claim(owners.session_id, kind), payload, wait) if direct else None
        )
        for _ in range(3):
            if worker_id is not None:
                break
            worker_id = await self._request(subjects.claim(kind), payload, wait)
        if worker_id is None:
            raise ClaimFailed(kind)
        previous = owners.owners.get(kind)
        owners.owners[kind] = worker_id
        self._last_beat.setdefault(worker_id, time.monotonic())
        if previous != worker_id:
            await self._announce(owners.session_id, kind, worker_id)

    async def _request(self, subject: str, payload: bytes, wait: float) -> str | None:
        try:
            reply = await self.nc.request(subject, payload, timeout=wait)
            return bus.claimed_decoder.decode(reply.data).worker_id
        except (NoRespondersError, NatsTimeout):
            return None
        except msgspec.DecodeError:
            log.warning("claim_reply_invalid")
            return None

    async def _watch(self) -> None:
        """Re-claim sessions whose owner stopped beating or is draining; re-announce owners now and then."""
        announce_due = time.monotonic() + self.settings.announce_interval_s
        while True:
            await asyncio.sleep(min(0.25, self.settings.owner_stale_s / 4))
            now = time.monotonic()
            for owners in list(self.sessions.values()):
                for kind in WORKER_KINDS:
                    owner = owners.owners.get(kind)
                    if owner is not None and kind not in owners.reclaiming and not self.healthy(owner, now):
                        owners.reclaiming.add(kind)
                        task = asyncio.create_task(self._reclaim(owners, kind))
                        self._reclaims.add(task)
                        task.add_done_callback(self._reclaims.discard)
            if now >= announce_due:
                announce_due = now + self.settings.announce_interval_s
                await self._announce_all()

    async def _reclaim(self, owners: SessionOwners, kind: WorkerKind) -> None:
        crashed = owners.owners.get(kind) not in self._draining
        if crashed and kind == "dialog" and owners.turns.busy:
            owners.turn_lost.set()  # the turn under way died with its worker: say so rather than go quiet
        try:
            await self.claim(owners, kind, resumed=True, direct=False)
            log.info("session_reclaimed", kind=kind)
        except ClaimFailed:
            log.warning("session_reclaim_failed", kind=kind)
        finally:
            owners.reclaiming.discard(kind)

    async def nats_reconnected(self) -> None:
        """Events published while this gateway was cut off from NATS are gone: fail the turns under way."""
        for owners in list(self.sessions.values()):
            if owners.turns.busy:
                owners.turn_lost.set()

    async def _announce_all(self) -> None:
        for owners in list(self.sessions.values()):
            for kind, worker_id in list(owners.owners.items()):
                await self._announce(owners.session_id, kind, worker_id)

    async def _announce(self, session_id: str, kind: str, worker_id: str) -> None:
        announce = bus.ControlOwner(kind=kind, worker_id=worker_id)
        await self.nc.publish(subjects.control(session_id), bus.encoder.encode(announce))
