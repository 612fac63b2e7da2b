"""The REST backend against a fake DummyJSON API on loopback: answers, upstream failures mapped to error codes,
retries, and the service serving again once the upstream recovers."""

import pytest
from nats.aio.client import Client as NATS

from shared.tools.client import call_tool
from shared.tools.errors import ToolError
from tests.tools.fake_products_api import FakeProductsApi, Mode
from tools_worker.rest import RestBackend
from tools_worker.service import ToolsService


async def test_search_and_get_through_the_api(nc: NATS, rest: ToolsService) -> None:
    result = await call_tool(nc, "search_products", {"query": "any laptops", "max_price": 1500, "limit": 10})
    assert result["products"]
    assert {p["category"] for p in result["products"]} == {"laptops"}
    assert all(p["price"] <= 1500 for p in result["products"])
    product = (await call_tool(nc, "get_product", {"product_id": 4}))["product"]
    assert product["title"] == "Red Lipstick"


async def test_unknown_product_is_not_found(nc: NATS, rest: ToolsService) -> None:
    with pytest.raises(ToolError) as caught:
        await call_tool(nc, "get_product", {"product_id": 424242})
    assert caught.value.code == "not_found"


@pytest.mark.parametrize("mode", ["fail", "malformed", "stall"])
async def test_upstream_failure_is_upstream_unavailable(
    nc: NATS, rest: ToolsService, fake_api: FakeProductsApi, mode: Mode
) -> None:
    fake_api.mode = mode
    for tool, args in (("search_products", {"query": "lipstick"}), ("get_product", {"product_id": 4})):
        with pytest.raises(ToolError) as caught:
            await call_tool(nc, tool, args, timeout=5)
        assert caught.value.code == "upstream_unavailable"
    fake_api.mode = "ok"
    fake_api.release.set()
    assert (await call_tool(nc, "get_product", {"product_id": 4}))["product"]["id"] == 4


async def test_5xx_and_timeouts_are_retried_but_malformed_json_is_not(
    nc: NATS, rest: ToolsService, fake_api: FakeProductsApi
) -> None:
    fake_api.mode = "fail"
    with pytest.raises(ToolError):
        await call_tool(nc, "get_product", {"product_id": 4}, timeout=5)
    assert fake_api.requests == 3  # one attempt and two retries
    fake_api.mode = "malformed"
    with pytest.raises(ToolError):
        await call_tool(nc, "get_product", {"product_id": 4}, timeout=5)
    assert fake_api.requests == 4


async def test_answers_are_cached(fake_api: FakeProductsApi) -> None:
    backend = RestBackend(fake_api.url, timeout_s=1, retries=0, cache_ttl_s=60)
    try:
        first = await backend.get_product(4)
        second = await backend.get_product(4)
    finally:
        await backend.close()
    assert first == second
    assert fake_api.requests == 1


async def test_unreachable_api_is_upstream_unavailable() -> None:
    api = await FakeProductsApi().start()
    url = api.url
    await api.close()
    backend = RestBackend(url, timeout_s=0.5, retries=1, cache_ttl_s=0)
    try:
        with pytest.raises(ToolError) as caught:
            await backend.get_product(1)
    finally:
        await backend.close()
    assert caught.value.code == "upstream_unavailable"
