"""The `/test` page in headless Chromium against the full stack: spoken and typed turns, barge-in, resume."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Playwright, ViewportSize, expect

from harness.stack import Stack
from tests.browser.chromium import TestPage, chromium, silent_wav, speech_wav

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

PHONE: ViewportSize = {"width": 360, "height": 740}
DESKTOP: ViewportSize = {"width": 1024, "height": 900}
QUERY = "show me running shoes under fifty dollars"  # long answer: several seconds of speech to interrupt
VOICE = "en-us+f2"


@contextmanager
def open_page(browser: Browser, stack: Stack, viewport: ViewportSize = DESKTOP) -> Iterator[TestPage]:
    """The page at `viewport`; on the way out it disconnects (`end_session`) so workers release the session."""
    page = TestPage(browser.new_page(viewport=viewport))
    page.page.goto(stack.gateway.base_url + "/test")
    yield page
    if page.by("status").get_attribute("data-state") != "idle":
        page.by("connect").click()
        expect(page.by("status")).to_have_attribute("data-state", "idle")


def assert_answer_for_search(page: TestPage) -> None:
    expect(page.by("intent")).to_have_text("search_products", timeout=30_000)
    expect(page.by("intent-params")).to_contain_text("query")
    expect(page.by("product-card").first).to_be_visible(timeout=10_000)
    expect(page.by("product-card").first).to_contain_text("$")
    expect(page.by("response")).not_to_have_text("", timeout=10_000)


def test_spoken_turn_shows_everything_and_plays_the_answer(driver: Playwright, stack: Stack, tmp_path: Path) -> None:
    mic = speech_wav(tmp_path / "mic.wav", QUERY, VOICE, tail_ms=20_000)
    with chromium(driver, mic) as browser, open_page(browser, stack) as page:
        expect(page.by("status")).to_have_text("Disconnected")  # the page never connects on its own
        page.connect()
        page.by("mic").click()
        expect(page.by("mic")).to_have_attribute("aria-pressed", "true")
        expect(page.by("transcript")).to_have_attribute("data-final", "true", timeout=30_000)
        expect(page.by("transcript")).to_contain_text("running shoes")
        assert_answer_for_search(page)
        stats = page.wait_stats(lambda s: s["played"] >= 16000)  # a second of the answer really played
        assert stats["sent"] > 0 and stats["received"] >= stats["played"]
        expect(page.by("error")).to_be_hidden()
        page.screenshot("spoken-turn")
        assert page.problems == []


def test_typed_query_by_keyboard_on_a_phone(driver: Playwright, stack: Stack, tmp_path: Path) -> None:
    with chromium(driver, silent_wav(tmp_path / "mic.wav")) as browser, open_page(browser, stack, PHONE) as page:
        page.page.keyboard.press("Tab")
        expect(page.by("connect")).to_be_focused()
        page.page.keyboard.press("Enter")
        expect(page.by("status")).to_have_attribute("data-state", "connected", timeout=15_000)
        page.by("text-input").focus()
        page.page.keyboard.type("tell me about product twelve")
        page.page.keyboard.press("Enter")
        expect(page.by("intent")).to_have_text("product_details", timeout=30_000)
        expect(page.by("intent-params")).to_contain_text("12")
        expect(page.by("product-card")).to_have_count(1)
        expect(page.by("product-card")).to_have_attribute("data-product-id", "12")
        expect(page.by("response")).not_to_have_text("", timeout=10_000)
        page.wait_stats(lambda s: s["played"] > 0)
        assert page.page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
        page.screenshot("typed-query-phone")
        assert page.problems == []


def assert_playback_stopped(page: TestPage) -> None:
    """After `interrupted`: nothing queued, and `played` does not move while we watch."""
    expect(page.by("playback")).to_have_attribute("data-queued-ms", "0")
    before = page.stats()
    page.page.wait_for_timeout(600)
    after = page.stats()
    assert after["played"] == before["played"]
    assert after["played"] < after["received"]  # samples received but never played: the queue was dropped


def test_barge_in_button_stops_playback_at_once(driver: Playwright, stack: Stack, tmp_path: Path) -> None:
    with chromium(driver, silent_wav(tmp_path / "mic.wav")) as browser, open_page(browser, stack) as page:
        page.connect()
        page.by("text-input").fill(QUERY)
        page.by("send").click()
        page.wait_stats(lambda s: s["played"] >= 8000)
        expect(page.by("barge-in")).to_be_enabled()
        page.by("barge-in").click()
        expect(page.by("playback")).to_have_attribute("data-state", "interrupted")
        assert [event["turn_id"] for event in page.wait_received("interrupted")] == [1]
        assert "→ barge_in (button)" in page.log_lines()
        assert_playback_stopped(page)
        assert page.problems == []


def test_speaking_during_the_answer_barges_in(driver: Playwright, stack: Stack, tmp_path: Path) -> None:
    # The fake microphone loops: the question comes again about 4 s after it ended, while the answer plays.
    mic = speech_wav(tmp_path / "mic.wav", QUERY, VOICE, tail_ms=4000)
    with chromium(driver, mic) as browser, open_page(browser, stack) as page:
        page.connect()
        page.by("mic").click()
        page.wait_stats(lambda s: s["played"] > 0)
        assert page.wait_received("interrupted", timeout=20)[0]["turn_id"] == 1
        assert "→ barge_in (you spoke during the answer)" in page.log_lines()
        expect(page.by("transcript")).to_contain_text("running shoes", timeout=30_000)  # the new speech: turn 2
        assert page.problems == []


def test_reconnect_resumes_the_session(driver: Playwright, stack: Stack, tmp_path: Path) -> None:
    """Runs last in this module: it restarts the gateway (sockets are closed with 1001) under the page."""
    with chromium(driver, silent_wav(tmp_path / "mic.wav")) as browser, open_page(browser, stack) as page:
        urls: list[str] = []
        page.page.on("websocket", lambda ws: urls.append(ws.url))
        page.connect()
        stack.gateway.stop()
        expect(page.by("status")).to_have_attribute("data-state", "reconnecting", timeout=10_000)
        stack.gateway.start()
        expect(page.by("status")).to_have_text("Connected (session resumed)", timeout=30_000)
        page.by("text-input").fill("hello")
        page.by("send").click()
        expect(page.by("intent")).to_have_text("greeting", timeout=30_000)
        first, again = page.received("session_start")
        assert again["resumed"] and again["session_id"] == first["session_id"]
        assert len(urls) >= 2 and all("session_id" not in url and "token" not in url for url in urls)  # not in URLs
        assert page.problems == []
