"""A running stack (real nats-server, gateway and workers as processes) shared by the tests of a module."""

from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest

from harness.procs import wait_http
from harness.stack import Stack, running_stack

SPEECH_STACK = ("vad_worker", "dialog_worker", "gateway")


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with running_stack(SPEECH_STACK) as running:
        wait_http(running.gateway.base_url + "/readyz")
        yield running


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session
