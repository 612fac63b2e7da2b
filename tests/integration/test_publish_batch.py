"""The publish batch of the audio path (shared/publish_batch.py) on a real nats-server: what is published within
the window is held, then sent in the order given; a failed publish is reported to its own callback and the rest go
on; past its limit a publish fails at once; with no window each publish is sent at once."""

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import nats
import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from shared.publish_batch import PublishBatch

HELD_S = 5.0  # far longer than the checks below take: whatever arrives before stop() was not held


@dataclass
class Bus:
    """A publishing connection and what a listener on `batch.>` heard."""

    nc: NATS
    got: list[Msg]


@pytest.fixture
async def wired(nats_url: str) -> AsyncIterator[Bus]:
    listener = await nats.connect(nats_url)
    got: list[Msg] = []

    async def heard(msg: Msg) -> None:
        got.append(msg)

    await listener.subscribe("batch.>", cb=heard)
    await listener.flush()
    nc = await nats.connect(nats_url)
    yield Bus(nc, got)
    await nc.close()
    await listener.close()


async def _until(got: list[Msg], count: int) -> None:
    """Until `count` messages were heard (or 5 s passed: the assertions after it say what was missing)."""
    for _ in range(100):
        if len(got) >= count:
            return
        await asyncio.sleep(0.05)


def _never(exc: BaseException) -> None:
    raise AssertionError(f"a publish failed: {exc}")


async def test_what_is_published_within_the_window_is_held_then_sent_in_order(wired: Bus) -> None:
    nc, got = wired.nc, wired.got
    batch = PublishBatch(nc, HELD_S)
    batch.start()
    for i in range(300):
        await batch.publish(f"batch.s{i % 3}", str(i).encode(), _never, {"n": str(i)} if i % 7 == 0 else None)
    assert batch.held_bytes == sum(len(str(i)) for i in range(300))
    await nc.flush()
    await asyncio.sleep(0.05)
    assert got == []  # held
    await batch.stop()  # sends what is held
    await nc.flush()
    await _until(got, 300)
    assert [int(m.data) for m in got] == list(range(300))
    assert [m.subject for m in got[:4]] == ["batch.s0", "batch.s1", "batch.s2", "batch.s0"]
    assert got[7].headers == {"n": "7"}


async def test_a_failed_publish_is_reported_to_its_callback_and_the_rest_go_on(wired: Bus) -> None:
    got = wired.got
    batch = PublishBatch(wired.nc, 0.001)
    batch.start()
    failures: list[BaseException] = []
    await batch.publish("", b"no subject", failures.append)  # nats-py refuses it when it is sent
    await batch.publish("batch.after", b"still sent", _never)
    await _until(got, 1)
    assert [type(f).__name__ for f in failures] == ["BadSubjectError"]
    assert [m.data for m in got] == [b"still sent"]
    await batch.stop()


async def test_past_its_limit_a_publish_fails_at_once(wired: Bus) -> None:
    batch = PublishBatch(wired.nc, HELD_S, limit_bytes=10)
    batch.start()
    failures: list[BaseException] = []
    await batch.publish("batch.a", b"0123456789", failures.append)
    await batch.publish("batch.b", b"x", failures.append)  # NATS took nothing yet: no room
    assert [type(f) for f in failures] == [BufferError] and batch.held_bytes == 10
    await batch.stop()


async def test_with_no_window_each_publish_is_sent_at_once(wired: Bus) -> None:
    nc, got = wired.nc, wired.got
    batch = PublishBatch(nc, 0.0)
    batch.start()
    await batch.publish("batch.now", b"now", _never)
    assert batch.held_bytes == 0
    await nc.flush()
    await _until(got, 1)
    assert [m.data for m in got] == [b"now"]
