"""Own catalogs (JSON and JSONL, through VOICECHAT_CATALOG) load, index and answer; broken ones fail clearly."""

import json
from pathlib import Path

import pytest
from nats.aio.client import Client as NATS

from shared.settings import ToolsSettings, load_settings
from shared.tools.client import call_tool
from tests.tools.harness import serving
from tools_worker.backend import create_backend
from tools_worker.catalog import CatalogError, load_catalog

ITEMS = [
    {"id": 1, "title": "Trail Running Shoes", "price": 45.0, "category": "shoes", "tags": ["running"], "extra": 1},
    {"id": 2, "title": "Road Running Shoes", "price": 120.0, "category": "shoes", "brand": "Fleet"},
    {"id": 3, "title": "Rain Jacket", "price": 80.0, "category": "jackets", "description": "for running in rain"},
]


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
async def test_own_catalog_through_the_setting(tmp_path: Path, nats_url: str, nc: NATS, suffix: str) -> None:
    path = tmp_path / f"catalog{suffix}"
    if suffix == ".jsonl":
        path.write_text("\n".join(json.dumps(item) for item in ITEMS) + "\n")
    else:
        path.write_text(json.dumps({"products": ITEMS}))
    backend = await create_backend(load_settings(ToolsSettings, {"VOICECHAT_CATALOG": str(path)}))
    async with serving(nats_url, backend):
        result = await call_tool(nc, "search_products", {"query": "running shoes under fifty", "max_price": 50})
        assert [p["id"] for p in result["products"]] == [1]
        jackets = await call_tool(nc, "search_products", {"query": "running", "category": "Jackets"})
        assert [p["id"] for p in jackets["products"]] == [3]


@pytest.mark.parametrize(
    "content",
    ['[{"id": 1}]', "not json", json.dumps([ITEMS[0], ITEMS[0]])],
    ids=["missing fields", "not JSON", "duplicate ids"],
)
def test_broken_catalog_is_a_clear_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "catalog.json"
    path.write_text(content)
    with pytest.raises(CatalogError, match=str(path)):
        load_catalog(path)


def test_missing_catalog_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="cannot load catalog"):
        load_catalog(tmp_path / "nope.json")
