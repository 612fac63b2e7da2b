"""Ownership recovery: `kill -9` of the VAD worker that owns live sessions; the other one takes them over."""

import asyncio
from collections.abc import Iterator

import aiohttp
import numpy as np
import pytest

from harness.procs import owned_sessions, wait_http
from harness.speech import frames, utterance
from harness.stack import Stack, running_stack
from voice_client.recorder import connect

RECLAIM_BUDGET_MS = 3000


@pytest.fixture(scope="module")
def two_vad_stack() -> Iterator[Stack]:
    with running_stack(("vad_worker", "vad_worker", "dialog_worker", "gateway")) as running:
        wait_http(running.gateway.base_url + "/readyz")
        yield running


async def test_killed_vad_owner_is_replaced_and_speech_events_continue(
    two_vad_stack: Stack, http: aiohttp.ClientSession
) -> None:
    stack = two_vad_stack
    clients = [await connect(http, stack.gateway.base_url) for _ in range(4)]
    vads = [s for s in stack.services if s.module == "vad_worker"]
    counts = [owned_sessions(v) for v in vads]
    assert sum(counts) == 4
    victim, survivor = (vads[0], vads[1]) if counts[0] else (vads[1], vads[0])
    victim.kill()
    # Speech that starts once the reclaim budget is over must be detected for every session.
    lead = np.zeros(16 * RECLAIM_BUDGET_MS, np.int16)
    speech = frames(np.concatenate([lead, utterance("hello there", voice="en+m3")]), 16000)
    await asyncio.gather(*(client.stream(speech) for client in clients))
    for client in clients:
        started = await client.wait_for("speech_started", timeout=5)
        assert started["offset_ms"] >= RECLAIM_BUDGET_MS
        await client.wait_for("speech_ended", timeout=5)
    assert owned_sessions(survivor) == 4
    for client in clients:
        await client.close()
