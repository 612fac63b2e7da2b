"""Bounded shutdown steps (shared/shutdown.py): a step that ends in time is awaited; one that hangs is abandoned
(cancelled) after its bound and named in the log."""

import asyncio

import structlog

from shared.shutdown import bounded


async def test_a_step_that_ends_in_time_runs_to_its_end() -> None:
    done: list[str] = []

    async def step() -> None:
        await asyncio.sleep(0)
        done.append("closed")

    await bounded("close", step(), within_s=5.0)
    assert done == ["closed"]


async def test_a_hanging_step_is_cancelled_and_named() -> None:
    cancelled = asyncio.Event()

    async def hangs() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with structlog.testing.capture_logs() as logs:
        await bounded("drain", hangs(), within_s=0.05)
        await asyncio.wait_for(cancelled.wait(), 5.0)
    assert [(e["event"], e["step"]) for e in logs] == [("shutdown_step_timed_out", "drain")]
