"""The backend interface the service calls, and the choice between embedded catalog and REST API from settings."""

from typing import Protocol

from shared.settings import ToolsSettings
from shared.tools.schemas import ProductResult, SearchProducts, SearchResult
from tools_worker.catalog import load_catalog
from tools_worker.embedded import EmbeddedBackend
from tools_worker.rest import RestBackend


class Backend(Protocol):
    """Answers validated requests or raises ToolError."""

    async def search(self, request: SearchProducts) -> SearchResult: ...

    async def get_product(self, product_id: int) -> ProductResult: ...

    async def close(self) -> None: ...


async def create_backend(settings: ToolsSettings) -> Backend:
    """REST when VOICECHAT_PRODUCTS_API is set, else the embedded index of VOICECHAT_CATALOG (or DummyJSON data)."""
    if settings.products_api:
        return RestBackend(
            settings.products_api,
            timeout_s=settings.products_api_timeout_s,
            retries=settings.products_api_retries,
            cache_ttl_s=settings.products_cache_ttl_s,
        )
    return EmbeddedBackend(load_catalog(settings.catalog))
