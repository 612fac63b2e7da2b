"""Every kind of bad input gets a clear service error (header and JSON body), and the service keeps serving."""

import json

import pytest
from nats.aio.client import Client as NATS
from nats.micro.request import ERROR_CODE_HEADER, ERROR_HEADER

from shared.subjects import tools_endpoint
from tools_worker.service import ToolsService

SEARCH = "search_products"
GET = "get_product"

CASES = [
    ("invalid JSON", SEARCH, b'{"query": "shoes"', "invalid_request", "not valid JSON"),
    ("not an object", SEARCH, b'["shoes"]', "invalid_request", "Expected `object`"),
    ("query of the wrong type", SEARCH, b'{"query": 42}', "invalid_request", "$.query"),
    ("max_price as text", SEARCH, b'{"query": "shoes", "max_price": "cheap"}', "invalid_request", "max_price"),
    ("missing query", SEARCH, b"{}", "invalid_request", "missing required field `query`"),
    ("unknown field", SEARCH, b'{"query": "shoes", "colour": "red"}', "invalid_request", "unknown field `colour`"),
    ("empty query", SEARCH, b'{"query": ""}', "invalid_request", "must not be empty"),
    ("blank query", SEARCH, b'{"query": "   "}', "invalid_request", "must not be empty"),
    ("10 KB query", SEARCH, json.dumps({"query": "shoe " * 2048}).encode(), "invalid_request", "length <= 500"),
    ("negative limit", SEARCH, b'{"query": "shoes", "limit": -1}', "invalid_request", "$.limit"),
    ("zero limit", SEARCH, b'{"query": "shoes", "limit": 0}', "invalid_request", "$.limit"),
    ("huge limit", SEARCH, b'{"query": "shoes", "limit": 100000000000}', "invalid_request", "$.limit"),
    ("negative max_price", SEARCH, b'{"query": "shoes", "max_price": -5}', "invalid_request", "max_price"),
    ("empty body", GET, b"", "invalid_request", "not valid JSON"),
    ("product_id as text", GET, b'{"product_id": "twelve"}', "invalid_request", "product_id"),
    ("product_id as float", GET, b'{"product_id": 1.5}', "invalid_request", "product_id"),
    ("product_id zero", GET, b'{"product_id": 0}', "invalid_request", "product_id"),
    ("unknown product_id", GET, b'{"product_id": 999999}', "not_found", "999999"),
]


@pytest.mark.parametrize(("case", "tool", "payload", "code", "detail"), CASES, ids=[c[0] for c in CASES])
async def test_bad_input_is_a_clear_error(
    nc: NATS, embedded: ToolsService, case: str, tool: str, payload: bytes, code: str, detail: str
) -> None:
    reply = await nc.request(tools_endpoint(tool), payload, timeout=2)
    assert reply.headers is not None
    assert reply.headers[ERROR_CODE_HEADER] == code
    body = json.loads(reply.data)
    assert body["error"]["code"] == code
    assert detail in body["error"]["message"]
    assert "\n" not in reply.headers[ERROR_HEADER]
    still = json.loads((await nc.request(tools_endpoint(SEARCH), b'{"query": "lipstick"}', timeout=2)).data)
    assert still["products"][0]["title"] == "Red Lipstick"


FTS_SYNTAX = ['"', '"unterminated', "shoe*", "* OR *", "NEAR(red shoes)", "red OR", "-red", "red -shoes"]
FTS_SYNTAX += ["title:red", "(", "^red", "AND NOT", "NEAR", "{title}: red"]


@pytest.mark.parametrize("query", FTS_SYNTAX)
async def test_fts_syntax_is_only_text(nc: NATS, embedded: ToolsService, query: str) -> None:
    reply = await nc.request(tools_endpoint(SEARCH), json.dumps({"query": query}).encode(), timeout=2)
    assert not reply.headers, reply.data
    body = json.loads(reply.data)
    assert isinstance(body["products"], list)
    assert body["total"] >= len(body["products"])
