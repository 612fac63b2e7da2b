"""The `/test` page against a gateway with auth on: the JWT comes from the address fragment (never sent to a
server), is offered as the `bearer.<JWT>` subprotocol, and is removed from the address bar; without one the
gateway refuses the upgrade."""

import time
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from playwright.sync_api import Playwright, expect

from harness.procs import wait_http
from harness.stack import Stack, running_stack
from tests.browser.chromium import TestPage, chromium, require_chromium, silent_wav

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

SECRET = "browser-auth-secret-0123456789abcdef0123456789"


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    require_chromium()
    with running_stack(("vad_worker", "dialog_worker", "gateway"), {"VOICECHAT_AUTH_SECRET": SECRET}) as running:
        wait_http(running.gateway.base_url + "/readyz", timeout=60)
        yield running


def test_the_page_sends_the_fragment_jwt_as_a_subprotocol(driver: Playwright, stack: Stack, tmp_path: Path) -> None:
    token = jwt.encode({"sub": "browser-shopper", "exp": int(time.time()) + 600}, SECRET, algorithm="HS256")
    with chromium(driver, silent_wav(tmp_path / "mic.wav")) as browser:
        page = TestPage(browser.new_page())
        sockets: list[str] = []
        page.page.on("websocket", lambda ws: sockets.append(ws.url))
        page.page.goto(f"{stack.gateway.base_url}/test#token={token}")
        page.connect()
        assert page.wait_received("session_start")[0]["resumed"] is False
        assert token not in page.page.url  # read once, then removed from the address bar and history
        assert sockets and all(token not in url for url in sockets)
        page.by("connect").click()
        expect(page.by("status")).to_have_attribute("data-state", "idle")
        assert page.problems == []


def test_without_a_jwt_the_upgrade_is_refused(driver: Playwright, stack: Stack, tmp_path: Path) -> None:
    with chromium(driver, silent_wav(tmp_path / "mic.wav")) as browser:
        page = TestPage(browser.new_page())
        page.page.goto(f"{stack.gateway.base_url}/test")
        page.by("connect").click()
        expect(page.by("status")).to_have_attribute("data-state", "reconnecting", timeout=10_000)
        assert page.received("session_start") == []
        page.by("connect").click()
    assert '"reason": "token_missing"' in stack.gateway.output()
