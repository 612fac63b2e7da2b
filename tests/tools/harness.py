"""Run the tools service in-process for a test: its own NATS connection, drained and closed on exit."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import nats
from nats.aio.client import Client as NATS
from nats.errors import NoRespondersError

from shared.subjects import tools_endpoint
from tools_worker.backend import Backend
from tools_worker.service import ToolsService


@asynccontextmanager
async def serving(nats_url: str, backend: Backend) -> AsyncIterator[ToolsService]:
    client = await nats.connect(nats_url)
    service = ToolsService(client, backend)
    await service.start()
    await _until_answering(client)
    try:
        yield service
    finally:
        await service.drain(timeout_s=2)
        await backend.close()
        await client.close()


async def _until_answering(client: NATS) -> None:
    """Under load, nats-server can answer "no responders" for a moment after a queue subscription was flushed."""
    for _ in range(100):
        try:
            await client.request(tools_endpoint("get_product"), b"{}", timeout=2)
            return
        except NoRespondersError:
            await asyncio.sleep(0.02)
    raise AssertionError("the tools service never answered")
