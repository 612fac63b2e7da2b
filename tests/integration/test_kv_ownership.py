"""The KV adapters on a real nats-server: session records by compare-and-set, and liveness judged by the server."""

import asyncio
import threading
import time
from collections.abc import AsyncIterator

import nats
import pytest
from nats.aio.client import Client as NATS
from prometheus_client import REGISTRY

from shared import subjects
from shared.kv import bucket_config, open_bucket
from shared.liveness import Beacon, LivenessWatch, WorkerBeat, open_workers_bucket
from shared.session_record import KindOwner, SessionRecord
from shared.session_store import SessionStore
from shared.settings import GatewaySettings

SID = "c" * 32
SETTINGS = GatewaySettings(owner_stale_s=1.0, heartbeat_interval_s=0.25)


@pytest.fixture
async def store(nc: NATS) -> AsyncIterator[SessionStore]:
    js = nc.jetstream()
    yield await SessionStore.open(js, SETTINGS)
    await js.delete_key_value(subjects.SESSIONS_BUCKET)


def record(connection: str, epoch: int = 1) -> SessionRecord:
    return SessionRecord(session_id=SID, connection=connection, owners={"vad": KindOwner("vad-1", epoch)})


async def test_buckets_are_created_once_and_opened_by_everyone_after(nc: NATS) -> None:
    js = nc.jetstream()
    first = await open_bucket(js, bucket_config("voicechat_test", 1, 10.0))
    again = await open_bucket(js, bucket_config("voicechat_test", 1, 10.0))
    other = await open_bucket(js, bucket_config("voicechat_test", 1, 99.0))  # another configuration: opened as is
    assert (await first.status()).ttl == (await again.status()).ttl == (await other.status()).ttl == 10.0
    await js.delete_key_value("voicechat_test")


async def test_a_record_is_created_once_then_changed_only_on_its_revision(store: SessionStore) -> None:
    assert await store.get(SID) == (None, 0)
    revision = await store.write(record("c1"), 0)
    assert revision is not None
    assert await store.write(record("c2"), 0) is None  # exists already
    assert await store.get(SID) == (record("c1"), revision)
    newer = await store.write(record("c1", epoch=2), revision)
    assert newer is not None and newer > revision
    assert await store.write(record("c3", epoch=2), revision) is None  # stale revision
    assert await store.get(SID) == (record("c1", epoch=2), newer)
    assert not await store.delete(SID, revision)
    assert await store.delete(SID, newer)
    assert await store.get(SID) == (None, 0)
    assert await store.write(record("c4"), 0) is not None  # a deleted record may be created again


async def test_of_two_racing_writers_exactly_one_wins(store: SessionStore) -> None:
    revision = await store.write(record("c0"), 0)
    assert revision is not None
    results = await asyncio.gather(*(store.write(record(f"c{i}", epoch=2), revision) for i in range(1, 6)))
    winners = [result for result in results if result is not None]
    assert len(winners) == 1
    current, _ = await store.get(SID)
    assert current is not None and current.connection == f"c{results.index(winners[0]) + 1}"


async def test_an_unreadable_record_is_reported_absent_with_its_revision(store: SessionStore) -> None:
    revision = await store.kv.put(SID, b"not json")
    assert await store.get(SID) == (None, revision)
    assert await store.write(record("c1"), revision) is not None


def workers_seen(kind: str, state: str) -> float | None:
    """`voicechat_liveness_workers{kind, state}` as this process exports it."""
    return REGISTRY.get_sample_value("voicechat_liveness_workers", {"kind": kind, "state": state})


class Changes:
    def __init__(self) -> None:
        self.seen: list[tuple[str, WorkerBeat | None]] = []

    def __call__(self, worker: str, beat: WorkerBeat | None) -> None:
        self.seen.append((worker, beat))

    async def wait(self, predicate: object, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not any(predicate(item) for item in self.seen):  # type: ignore[operator]
            assert time.monotonic() < deadline, f"no such change in {self.seen}"
            await asyncio.sleep(0.05)


@pytest.fixture
async def watched(nc: NATS) -> AsyncIterator[tuple[LivenessWatch, Changes]]:
    js = nc.jetstream()
    kv = await open_workers_bucket(js, SETTINGS)
    changes = Changes()
    watch = LivenessWatch(kv, changes)
    task = asyncio.create_task(watch.run())
    await asyncio.wait_for(watch.synced.wait(), 5)
    yield watch, changes
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await js.delete_key_value(subjects.WORKERS_BUCKET)


async def test_the_server_expires_a_worker_that_stops_beating(nc: NATS, watched: tuple[LivenessWatch, Changes]) -> None:
    watch, changes = watched
    beacon = Beacon(await open_workers_bucket(nc.jetstream(), SETTINGS), "dialog-x", "dialog", 0.25)
    await beacon.refresh()
    await changes.wait(lambda c: c == ("dialog-x", WorkerBeat("dialog")))
    assert watch.alive() == {"dialog-x"}
    assert workers_seen("dialog", "alive") == 1
    stopped = time.monotonic()
    await changes.wait(lambda c: c == ("dialog-x", None), timeout=SETTINGS.owner_stale_s + 3)
    assert time.monotonic() - stopped >= SETTINGS.owner_stale_s * 0.9
    assert watch.alive() == frozenset()
    assert workers_seen("dialog", "alive") == 0


async def test_a_draining_worker_says_so(nc: NATS, watched: tuple[LivenessWatch, Changes]) -> None:
    watch, changes = watched
    beacon = Beacon(await open_workers_bucket(nc.jetstream(), SETTINGS), "vad-y", "vad", 0.25)
    await beacon.refresh()
    await beacon.draining()
    await changes.wait(lambda c: c == ("vad-y", WorkerBeat("vad", draining=True)))
    assert (workers_seen("vad", "alive"), workers_seen("vad", "draining")) == (0, 1)
    assert "vad-y" not in watch.alive() and "vad-y" in watch.workers
    await beacon.leave()
    await changes.wait(lambda c: c == ("vad-y", None))


def stall_loop(seconds: float) -> None:
    """Block the running event loop, as a CPU-throttled pod or a long pause would."""
    time.sleep(seconds)


def _beat_elsewhere(url: str, stop: threading.Event) -> None:
    """A worker in its own thread and event loop: a stall of the test's loop does not stall it."""

    async def beat() -> None:
        client = await nats.connect(url)
        beacon = Beacon(await open_workers_bucket(client.jetstream(), SETTINGS), "dialog-z", "dialog", 0.25)
        while not stop.is_set():
            await beacon.refresh()
            await asyncio.sleep(0.25)
        await client.close()

    asyncio.run(beat())


async def test_a_stalled_gateway_loop_does_not_see_healthy_workers_expire(
    nats_url: str, watched: tuple[LivenessWatch, Changes]
) -> None:
    watch, changes = watched
    stop = threading.Event()
    worker = threading.Thread(target=_beat_elsewhere, args=(nats_url, stop))
    worker.start()
    try:
        await changes.wait(lambda c: c[0] == "dialog-z")
        stall_loop(SETTINGS.owner_stale_s * 2.5)  # the watching loop stalls (CPU throttling, a long GC)
        await asyncio.sleep(1.0)
        assert ("dialog-z", None) not in changes.seen
        assert "dialog-z" in watch.alive()
    finally:
        stop.set()
        worker.join()


async def test_after_a_resync_workers_that_left_meanwhile_are_reported_gone(
    nc: NATS, watched: tuple[LivenessWatch, Changes]
) -> None:
    watch, changes = watched
    watch.workers["vad-ghost"] = WorkerBeat("vad")  # known before an outage, expired during it
    watch.resync()
    await changes.wait(lambda c: c == ("vad-ghost", None))
