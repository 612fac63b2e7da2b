"""Browser-test fixtures: the full stack as processes (one per module) and a Playwright driver."""

from collections.abc import Iterator

import pytest
from playwright.sync_api import Playwright, sync_playwright

from harness.procs import wait_http
from harness.stack import FULL_STACK, Stack, running_stack
from tests.browser.chromium import require_chromium


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    require_chromium()
    with running_stack(FULL_STACK) as running:
        wait_http(running.gateway.base_url + "/readyz", timeout=60)
        yield running


@pytest.fixture(scope="module")
def driver(stack: Stack) -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver
