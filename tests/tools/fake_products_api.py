"""A fake DummyJSON products API over real HTTP on loopback, serving a catalog file; it can be told to fail.

Modes: `ok`, `fail` (HTTP 500), `malformed` (a 200 with a broken JSON body) and `stall` (never answers until
released). `stall_ids` stalls only `GET /products/{id}` for those ids, so a slow and a fast lookup can overlap.
"""

import asyncio
import json
from pathlib import Path
from typing import Any, Literal

from aiohttp import web

from shared.settings import DEFAULT_CATALOG

Mode = Literal["ok", "fail", "malformed", "stall"]


class FakeProductsApi:
    def __init__(self, catalog: Path = Path(DEFAULT_CATALOG)) -> None:
        self.products: list[dict[str, Any]] = json.loads(catalog.read_text())
        self.mode: Mode = "ok"
        self.stall_ids: set[int] = set()
        self.requests = 0
        self.release = asyncio.Event()
        self.stalled = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> "FakeProductsApi":
        app = web.Application()
        app.router.add_get("/products/search", self._search)
        app.router.add_get("/products/{id}", self._product)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def close(self) -> None:
        self.release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _misbehave(self) -> web.Response | None:
        self.requests += 1
        if self.mode == "fail":
            return web.json_response({"message": "boom"}, status=500)
        if self.mode == "malformed":
            return web.Response(body=b'{"products": [{"id": 1, "tit', content_type="application/json")
        if self.mode == "stall":
            await self._stall()
        return None

    async def _stall(self) -> None:
        self.stalled.set()
        await self.release.wait()

    async def _search(self, request: web.Request) -> web.Response:
        bad = await self._misbehave()
        if bad is not None:
            return bad
        query = request.query.get("q", "").lower()
        limit = int(request.query.get("limit", "30"))
        hits = [p for p in self.products if query in _searchable(p)]
        page = hits[:limit] if limit > 0 else hits
        return web.json_response({"products": page, "total": len(hits), "skip": 0, "limit": len(page)})

    async def _product(self, request: web.Request) -> web.Response:
        bad = await self._misbehave()
        if bad is not None:
            return bad
        product_id = int(request.match_info["id"])
        if product_id in self.stall_ids:
            await self._stall()
        for product in self.products:
            if product["id"] == product_id:
                return web.json_response(product)
        return web.json_response({"message": f"Product with id '{product_id}' not found"}, status=404)


def _searchable(product: dict[str, Any]) -> str:
    fields = [product["title"], product.get("description", ""), product["category"], product.get("brand") or ""]
    return " ".join([*fields, *product.get("tags", [])]).lower()
