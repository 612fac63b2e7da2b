"""The epoch filter (shared/epochs.py) and the loops' error bursts (shared/loops.py)."""

import asyncio

import pytest

from shared.epochs import EpochFilter, Verdict
from shared.loops import ErrorBurst, forever, guarded


def test_messages_of_the_current_epoch_pass() -> None:
    fence = EpochFilter(epoch=4)
    assert fence.judge(4) is Verdict.CURRENT
    assert fence.dropped == 0


def test_messages_of_an_older_epoch_are_dropped_and_counted() -> None:
    fence = EpochFilter(epoch=4)
    assert [fence.judge(e) for e in (3, 1, 4, 2)] == [Verdict.STALE, Verdict.STALE, Verdict.CURRENT, Verdict.STALE]
    assert fence.dropped == 3


def test_a_newer_epoch_tells_the_receiver_it_was_replaced() -> None:
    fence = EpochFilter(epoch=4)
    assert fence.judge(5) is Verdict.NEWER
    assert fence.dropped == 0


def test_unstamped_messages_of_older_peers_are_accepted() -> None:
    assert EpochFilter(epoch=9).judge(0) is Verdict.CURRENT


def test_advance_moves_forward_only() -> None:
    fence = EpochFilter(epoch=4)
    assert fence.advance(6) and fence.epoch == 6
    assert not fence.advance(5) and fence.epoch == 6
    assert fence.judge(5) is Verdict.STALE


def test_an_error_burst_is_logged_once_and_every_error_counted() -> None:
    burst = ErrorBurst("test_loop", quiet_s=5.0)
    starts = [burst.failed(OSError("x"), now) for now in (0.0, 0.1, 4.0, 8.9, 14.0)]
    assert starts == [True, False, False, False, True]
    assert burst.count == 5


async def test_a_loop_survives_whatever_its_body_raises() -> None:
    calls: list[int] = []
    enough = asyncio.Event()

    async def step() -> None:
        calls.append(1)
        if len(calls) >= 6:
            enough.set()
        if len(calls) % 2:
            raise RuntimeError("publish failed")

    task = asyncio.create_task(forever("test_forever", step, 0.0))
    await asyncio.wait_for(enough.wait(), 5)
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_guarded_reports_failure_instead_of_raising() -> None:
    burst = ErrorBurst("test_guarded")

    async def boom() -> None:
        raise ConnectionError("nats gone")

    assert await guarded(burst, boom()) is False
    assert burst.count == 1
