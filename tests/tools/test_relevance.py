"""Natural spoken queries over the default DummyJSON catalog find what a shopper means (embedded backend)."""

from typing import Any

import pytest
from nats.aio.client import Client as NATS

from shared.tools.client import call_tool
from tools_worker.service import ToolsService


async def search(nc: NATS, query: str, **extra: Any) -> list[dict[str, Any]]:
    result = await call_tool(nc, "search_products", {"query": query, **extra})
    products: list[dict[str, Any]] = result["products"]
    assert result["total"] >= len(products)
    return products


# (query, extra arguments, what every hit's category ends with, a word the top hit's title must contain)
CASES: list[tuple[str, dict[str, Any], str, str]] = [
    ("any sunglasses", {}, "sunglasses", ""),
    ("laptops under two thousand", {"max_price": 2000}, "laptops", ""),
    ("do you have red lipstick", {}, "beauty", "lipstick"),
    ("show me some perfumes", {}, "fragrances", ""),
    ("I'm looking for a smartphone", {}, "smartphones", ""),
    ("samsung phones", {"category": "smartphones"}, "smartphones", "samsung"),
    ("women's watches", {}, "womens-watches", ""),
    ("luxury watches under five thousand", {"max_price": 5000}, "watches", ""),
    ("kitchen knives", {}, "kitchen-accessories", "knife"),
    ("cheap dresses", {"max_price": 40}, "", "dress"),
    ("a tennis racket please", {}, "sports-accessories", "tennis"),
    ("Apple laptops", {}, "laptops", "apple"),
    ("motorcycles", {}, "motorcycle", ""),
]


@pytest.mark.parametrize(("query", "extra", "category", "title_word"), CASES, ids=[c[0] for c in CASES])
async def test_natural_query(
    nc: NATS, embedded: ToolsService, query: str, extra: dict[str, Any], category: str, title_word: str
) -> None:
    products = await search(nc, query, **extra)
    assert products, f"nothing found for {query!r}"
    if category:
        assert all(p["category"].endswith(category) for p in products), products
    if title_word:
        assert title_word in products[0]["title"].lower()
    if "max_price" in extra:
        assert all(p["price"] <= extra["max_price"] for p in products)


async def test_every_sunglasses_product_is_found(nc: NATS, embedded: ToolsService) -> None:
    products = await search(nc, "any sunglasses", limit=50)
    assert {p["id"] for p in products} == {154, 155, 156, 157, 158}


async def test_price_filter_excludes_dearer_laptops(nc: NATS, embedded: ToolsService) -> None:
    everything = await search(nc, "laptops", limit=50)
    cheaper = await search(nc, "laptops under two thousand", max_price=1500, limit=50)
    assert {p["id"] for p in cheaper} == {p["id"] for p in everything if p["price"] <= 1500}
    assert len(cheaper) < len(everything)


async def test_limit_and_total(nc: NATS, embedded: ToolsService) -> None:
    result = await call_tool(nc, "search_products", {"query": "smartphones", "limit": 3})
    assert len(result["products"]) == 3
    assert result["total"] == len(await search(nc, "smartphones", limit=50)) > 3
    assert set(result["products"][0]) == {"id", "title", "price", "category", "brand", "rating", "stock", "thumbnail"}


async def test_get_product_returns_the_product(nc: NATS, embedded: ToolsService) -> None:
    product = (await call_tool(nc, "get_product", {"product_id": 4}))["product"]
    assert product["title"] == "Red Lipstick"
    assert product["price"] == 12.99
    assert "lipstick" in product["tags"]
