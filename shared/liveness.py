"""Worker liveness judged by the NATS server, not by any one event loop.

Each per-session worker refreshes its key in the workers' KV bucket every `VOICECHAT_HEARTBEAT_INTERVAL_S`; the
bucket ages keys out after `VOICECHAT_OWNER_STALE_S`, and the server then places an expiry marker that every
gateway's watch receives. A gateway that stalls only processes the watch late: it never sees a healthy worker
expire. A draining worker says so in its key. shared/ownership.py turns these into re-claims.
"""

import asyncio
from collections import Counter
from collections.abc import Callable

import msgspec
from nats.js import JetStreamContext
from nats.js.kv import KV_DEL, KV_PURGE, KeyValue

from shared import subjects
from shared.kv import bucket_config, open_bucket
from shared.logs import get_logger
from shared.loops import ErrorBurst, forever
from shared.metrics import LIVENESS_WORKERS
from shared.settings import SessionPlaneSettings
from shared.subjects import WORKER_KINDS

log = get_logger(__name__)


class WorkerBeat(msgspec.Struct, frozen=True):
    kind: str
    draining: bool = False


_beat_decoder = msgspec.json.Decoder(WorkerBeat)
_beat_encoder = msgspec.json.Encoder()


async def open_workers_bucket(js: JetStreamContext, settings: SessionPlaneSettings) -> KeyValue:
    config = bucket_config(subjects.WORKERS_BUCKET, settings.kv_replicas, settings.owner_stale_s, expiry_markers=True)
    return await open_bucket(js, config)


class Beacon:
    """A worker's liveness key."""

    def __init__(self, kv: KeyValue, worker_id: str, kind: str, interval_s: float) -> None:
        self.kv = kv
        self.worker_id = worker_id
        self.interval_s = interval_s
        self.beat = WorkerBeat(kind=kind)

    async def refresh(self) -> None:
        await self.kv.put(self.worker_id, _beat_encoder.encode(self.beat))

    async def run(self) -> None:
        await forever("liveness_beacon", self.refresh, self.interval_s)

    async def draining(self) -> None:
        """From now on the key says draining; gateways move this worker's sessions."""
        self.beat = WorkerBeat(kind=self.beat.kind, draining=True)
        await self.refresh()

    async def leave(self) -> None:
        await self.kv.delete(self.worker_id)


LivenessCallback = Callable[[str, WorkerBeat | None], None]


class LivenessWatch:
    """Every worker's liveness as the server sees it; `on_change(worker_id, beat or None when gone)` on changes.

    The watch is restarted after any error (and by `resync`, after a NATS reconnect): its first pass delivers every
    key alive now, and workers not among them are reported gone."""

    def __init__(self, kv: KeyValue, on_change: LivenessCallback, retry_s: float = 0.5) -> None:
        self.kv = kv
        self.on_change = on_change
        self.retry_s = retry_s
        self.workers: dict[str, WorkerBeat] = {}
        self.synced = asyncio.Event()
        self._restart = asyncio.Event()
        self._burst = ErrorBurst("liveness_watch")

    def alive(self) -> frozenset[str]:
        return frozenset(worker for worker, beat in self.workers.items() if not beat.draining)

    def resync(self) -> None:
        self._restart.set()

    async def run(self) -> None:
        await forever("liveness_watch", self._watch_once, self.retry_s)

    async def _watch_once(self) -> None:
        self._restart.clear()
        watcher = await self.kv.watchall()
        try:
            seen: set[str] | None = set()
            while not self._restart.is_set():
                try:
                    entry = await watcher.updates(timeout=1.0)  # type: ignore[no-untyped-call]
                except TimeoutError:
                    continue
                if entry is None:  # the initial values are all in: whoever is missing is gone
                    if seen is not None:
                        for worker in set(self.workers) - seen:
                            self._set(worker, None)
                        seen = None
                        self.synced.set()
                    continue
                if seen is not None:
                    seen.add(entry.key)
                self._apply(entry.key, entry.operation, entry.value)
        finally:
            await watcher.stop()  # type: ignore[no-untyped-call]

    def _apply(self, worker: str, operation: str | None, value: bytes | None) -> None:
        if operation in (KV_DEL, KV_PURGE):
            self._set(worker, None)
            return
        try:
            beat = _beat_decoder.decode(value or b"")
        except msgspec.DecodeError as exc:
            self._burst.failed(exc)
            return
        self._set(worker, beat)

    def _set(self, worker: str, beat: WorkerBeat | None) -> None:
        before = self.workers.get(worker)
        if beat is None:
            self.workers.pop(worker, None)
        else:
            self.workers[worker] = beat
        if before != beat:
            self._count()
            self.on_change(worker, beat)

    def _count(self) -> None:
        """`voicechat_liveness_workers`: every kind and state, zero included (a kind with no worker shows)."""
        counts = Counter((beat.kind, "draining" if beat.draining else "alive") for beat in self.workers.values())
        for kind in WORKER_KINDS:
            for state in ("alive", "draining"):
                LIVENESS_WORKERS.labels(kind, state).set(counts[kind, state])
