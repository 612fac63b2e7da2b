"""`python -m tools_worker` as a process: it answers, serves /metrics, and on SIGTERM finishes in-flight work."""

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator

import aiohttp
import pytest
from nats.aio.client import Client as NATS

from harness.ports import free_port
from shared.subjects import TOOLS_SERVICE
from shared.tools.client import call_tool
from shared.tools.errors import ToolError
from tests.tools.fake_products_api import FakeProductsApi


@pytest.fixture
async def worker(nats_url: str, fake_api: FakeProductsApi) -> AsyncIterator[tuple[asyncio.subprocess.Process, int]]:
    port = free_port()
    env = {
        **os.environ,
        "VOICECHAT_NATS_URL": nats_url,
        "VOICECHAT_METRICS_PORT": str(port),
        "VOICECHAT_PRODUCTS_API": fake_api.url,
        "VOICECHAT_PRODUCTS_API_TIMEOUT_S": "60",
    }
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "tools_worker", env=env)
    yield proc, port
    if proc.returncode is None:
        proc.kill()
        await proc.wait()


async def _until_answering(nc: NATS) -> None:
    for _ in range(300):
        try:
            await nc.request(f"$SRV.PING.{TOOLS_SERVICE}", b"", timeout=0.5)
            return
        except Exception:
            await asyncio.sleep(0.05)
    raise AssertionError("tools_worker never answered $SRV.PING")


async def _until_refusing(nc: NATS) -> None:
    for _ in range(300):
        try:
            await call_tool(nc, "search_products", {"query": "lipstick"}, timeout=0.5)
        except ToolError:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("tools_worker kept taking requests after SIGTERM")


async def test_process_serves_and_drains_on_sigterm(
    nc: NATS, fake_api: FakeProductsApi, worker: tuple[asyncio.subprocess.Process, int]
) -> None:
    proc, port = worker
    await _until_answering(nc)
    assert (await call_tool(nc, "get_product", {"product_id": 4}))["product"]["id"] == 4
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/metrics") as resp:
        metrics = await resp.text()
    assert 'voicechat_tool_requests_total{outcome="ok",tool="get_product"} 1.0' in metrics
    assert "voicechat_tool_latency_seconds_bucket" in metrics

    fake_api.stall_ids = {7}
    slow = asyncio.create_task(call_tool(nc, "get_product", {"product_id": 7}, timeout=30))
    await fake_api.stalled.wait()
    proc.send_signal(signal.SIGTERM)
    await _until_refusing(nc)  # no new requests once draining...
    assert not slow.done()
    fake_api.release.set()
    assert (await slow)["product"]["id"] == 7  # ...but the one in flight is answered
    assert await proc.wait() == 0
