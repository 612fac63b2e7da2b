"""`$SRV.PING`, `$SRV.INFO` and `$SRV.STATS` for `tools`, asked with plain nats-py requests (no micro client)."""

import json

from nats.aio.client import Client as NATS

from shared.subjects import TOOLS_SERVICE, tools_endpoint
from tools_worker import __version__
from tools_worker.service import ToolsService


async def test_ping_names_the_service_and_version(nc: NATS, embedded: ToolsService) -> None:
    reply = json.loads((await nc.request(f"$SRV.PING.{TOOLS_SERVICE}", b"", timeout=2)).data)
    assert reply["name"] == "tools"
    assert reply["version"] == __version__
    assert reply["type"] == "io.nats.micro.v1.ping_response"


async def test_info_lists_both_endpoints(nc: NATS, embedded: ToolsService) -> None:
    info = json.loads((await nc.request(f"$SRV.INFO.{TOOLS_SERVICE}", b"", timeout=2)).data)
    subjects = {endpoint["name"]: endpoint["subject"] for endpoint in info["endpoints"]}
    assert subjects == {
        "search_products": "voicechat.tools.search_products",
        "get_product": "voicechat.tools.get_product",
    }


async def _counts(nc: NATS) -> dict[str, int]:
    stats = json.loads((await nc.request(f"$SRV.STATS.{TOOLS_SERVICE}", b"", timeout=2)).data)
    return {endpoint["name"]: endpoint["num_requests"] for endpoint in stats["endpoints"]}


async def test_stats_count_requests(nc: NATS, embedded: ToolsService) -> None:
    before = await _counts(nc)
    for _ in range(3):
        await nc.request(tools_endpoint("search_products"), b'{"query": "lipstick"}', timeout=2)
    after = await _counts(nc)
    assert after["search_products"] - before["search_products"] == 3
    assert after["get_product"] == before["get_product"]
