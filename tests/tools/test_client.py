"""`call_tool` turns error responses, timeouts and a missing service into ToolError with a code; a service that
appears within the call's time (a worker restarting, or re-subscribing after a NATS stall) answers it."""

import asyncio

import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from shared.subjects import tools_endpoint
from shared.tools.client import call_tool
from shared.tools.errors import ToolError
from tools_worker.service import ToolsService


async def test_error_response_raises_with_the_service_code(nc: NATS, embedded: ToolsService) -> None:
    with pytest.raises(ToolError) as caught:
        await call_tool(nc, "search_products", {"query": "shoes", "limit": 51})
    assert caught.value.code == "invalid_request"
    assert "$.limit" in caught.value.message


async def test_no_service_is_unavailable(nc: NATS) -> None:
    with pytest.raises(ToolError) as caught:
        await call_tool(nc, "search_products", {"query": "shoes"}, timeout=0.3)
    assert caught.value.code == "unavailable"


async def test_a_service_that_appears_during_the_call_answers_it(nc: NATS) -> None:
    async def answer(msg: Msg) -> None:
        await msg.respond(b'{"products": []}')

    async def appear_later() -> None:
        await asyncio.sleep(0.5)  # ten times the first retry: one more try alone would have failed
        await nc.subscribe(tools_endpoint("search_products"), cb=answer)

    appearing = asyncio.create_task(appear_later())
    assert await call_tool(nc, "search_products", {"query": "shoes"}, timeout=3.0) == {"products": []}
    await appearing


async def test_silent_service_is_a_timeout(nc: NATS) -> None:
    await nc.subscribe(tools_endpoint("get_product"))  # interest, but never an answer
    with pytest.raises(ToolError) as caught:
        await call_tool(nc, "get_product", {"product_id": 1}, timeout=0.2)
    assert caught.value.code == "timeout"
