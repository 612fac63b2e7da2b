"""Fixtures of the tools tests: the service in-process on the real nats-server, embedded or over the fake API."""

from collections.abc import AsyncIterator

import pytest

from tests.tools.fake_products_api import FakeProductsApi
from tests.tools.harness import serving
from tools_worker.catalog import CatalogItem, load_catalog
from tools_worker.embedded import EmbeddedBackend
from tools_worker.rest import RestBackend
from tools_worker.service import ToolsService


@pytest.fixture(scope="session")
def catalog_items() -> list[CatalogItem]:
    return load_catalog()


@pytest.fixture
async def embedded(nats_url: str, catalog_items: list[CatalogItem]) -> AsyncIterator[ToolsService]:
    async with serving(nats_url, EmbeddedBackend(catalog_items, threads=2)) as service:
        yield service


@pytest.fixture
async def fake_api() -> AsyncIterator[FakeProductsApi]:
    api = await FakeProductsApi().start()
    yield api
    await api.close()


@pytest.fixture
async def rest(nats_url: str, fake_api: FakeProductsApi) -> AsyncIterator[ToolsService]:
    backend = RestBackend(fake_api.url, timeout_s=0.3, retries=2, cache_ttl_s=0)
    async with serving(nats_url, backend) as service:
        yield service
