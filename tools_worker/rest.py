"""REST backend: a DummyJSON-compatible products API through one shared aiohttp session.

Each call has a per-attempt timeout, a bounded number of concurrent upstream requests, retries with exponential
backoff (and jitter) on timeouts, connection errors and 5xx, and a TTL cache of successful answers. Upstream
failures become service errors: 404 -> `not_found`, other 4xx -> `invalid_request`, the rest ->
`upstream_unavailable`.
"""

import asyncio
import random
from typing import TypeVar

import aiohttp
import msgspec

from shared.logs import get_logger
from shared.tools.errors import ToolError
from shared.tools.schemas import ProductResult, SearchProducts, SearchResult
from tools_worker.cache import TTLCache
from tools_worker.catalog import CatalogItem
from tools_worker.query import category_slug, keywords, singular

log = get_logger(__name__)
T = TypeVar("T")
FILTERED_FETCH = 100  # DummyJSON cannot filter by price or category: fetch this many and filter here


class _Page(msgspec.Struct):
    products: list[CatalogItem]
    total: int


_page = msgspec.json.Decoder(_Page)
_item = msgspec.json.Decoder(CatalogItem)


class _Retryable(Exception):
    """A transient upstream failure (timeout, connection error, 5xx): worth another attempt."""


class RestBackend:
    def __init__(
        self, base_url: str, timeout_s: float, retries: int, cache_ttl_s: float, concurrency: int = 32
    ) -> None:
        self._base = base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._retries = retries
        self._slots = asyncio.Semaphore(concurrency)
        self._cache: TTLCache[object] = TTLCache(cache_ttl_s)
        self._session = aiohttp.ClientSession(raise_for_status=False)

    async def search(self, request: SearchProducts) -> SearchResult:
        filtered = request.max_price is not None or request.category is not None
        query = " ".join(singular(word) for word in keywords(request.query))
        fetch = FILTERED_FETCH if filtered else request.limit
        page = await self._get("/products/search", {"q": query, "limit": str(fetch)}, _page)
        hits = [item for item in page.products if _accepts(request, item)]
        total = len(hits) if filtered else max(page.total, len(hits))
        return SearchResult(products=[item.summary() for item in hits[: request.limit]], total=total)

    async def get_product(self, product_id: int) -> ProductResult:
        item = await self._get(f"/products/{product_id}", {}, _item)
        return ProductResult(product=item.detail())

    async def close(self) -> None:
        await self._session.close()

    async def _get(self, path: str, params: dict[str, str], decoder: msgspec.json.Decoder[T]) -> T:
        key = f"{path}?{sorted(params.items())}"
        cached = self._cache.get(key)
        if cached is not None:
            return cached  # type: ignore[return-value]
        for attempt in range(self._retries + 1):
            try:
                value = await self._attempt(path, params, decoder)
            except _Retryable as exc:
                log.warning("upstream_retry", path=path, attempt=attempt, error=str(exc))
                if attempt == self._retries:
                    raise ToolError("upstream_unavailable", f"products API failed: {exc}") from exc
                await asyncio.sleep(0.05 * 2**attempt * (1 + random.random()))  # jitter, not crypto
            else:
                self._cache.put(key, value)
                return value
        raise AssertionError("unreachable")

    async def _attempt(self, path: str, params: dict[str, str], decoder: msgspec.json.Decoder[T]) -> T:
        try:
            async with self._slots, self._session.get(self._base + path, params=params, timeout=self._timeout) as resp:
                body = await resp.read()
                status = resp.status
        except TimeoutError as exc:
            raise _Retryable(f"timed out after {self._timeout.total} s") from exc
        except aiohttp.ClientError as exc:
            raise _Retryable(f"{type(exc).__name__}: {exc}") from exc
        if status >= 500:
            raise _Retryable(f"HTTP {status}")
        if status == 404:
            raise ToolError("not_found", "no such product")
        if status >= 400:
            raise ToolError("invalid_request", f"products API rejected the request (HTTP {status})")
        try:
            return decoder.decode(body)
        except msgspec.DecodeError as exc:
            raise ToolError("upstream_unavailable", f"products API sent a malformed answer: {exc}") from exc


def _accepts(request: SearchProducts, item: CatalogItem) -> bool:
    if request.max_price is not None and item.price > request.max_price:
        return False
    return request.category is None or item.category == category_slug(request.category)
