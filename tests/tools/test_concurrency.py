"""One slow lookup never blocks others: a stalled upstream call and a fast one overlap in the same worker."""

import asyncio

from nats.aio.client import Client as NATS

from shared.tools.client import call_tool
from tests.tools.fake_products_api import FakeProductsApi
from tests.tools.harness import serving
from tools_worker.rest import RestBackend
from tools_worker.service import ToolsService


async def test_a_stalled_lookup_does_not_delay_a_fast_one(nats_url: str, nc: NATS, fake_api: FakeProductsApi) -> None:
    backend = RestBackend(fake_api.url, timeout_s=60, retries=0, cache_ttl_s=0)  # the stall outlives the test
    async with serving(nats_url, backend) as service:
        await _overlap(nc, service, fake_api)


async def _overlap(nc: NATS, service: ToolsService, fake_api: FakeProductsApi) -> None:
    fake_api.stall_ids = {7}
    slow = asyncio.create_task(call_tool(nc, "get_product", {"product_id": 7}, timeout=10))
    await fake_api.stalled.wait()  # the slow request is now inside the worker, waiting on the upstream
    for product_id in (4, 5, 6):  # same endpoint as the stalled one
        assert (await call_tool(nc, "get_product", {"product_id": product_id}))["product"]["id"] == product_id
    found = await call_tool(nc, "search_products", {"query": "lipstick"})
    assert found["products"][0]["id"] == 4
    assert not slow.done()
    assert service.in_flight == 1
    fake_api.release.set()
    assert (await slow)["product"]["id"] == 7
