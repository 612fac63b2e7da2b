"""Debian's Chromium under Playwright with a fake microphone fed from a speech WAV, and a driver for `/test`."""

import json
import os
import time
import wave
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from playwright.sync_api import Browser, Locator, Page, Playwright, expect

from harness.procs import ROOT
from harness.speech import utterance
from shared.audio import Samples
from tests.support.ci import missing_tool

CHROMIUM = Path(os.environ.get("VOICECHAT_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = ROOT / "test-artifacts" / "browser"
MIC_RATE = 48000
FLAGS = [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
Stats = dict[str, int]


def require_chromium() -> None:
    """Fail under CI (the browser tests are part of the contract there), skip with a reason elsewhere."""
    if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
        return
    missing_tool(f"{CHROMIUM} is missing: install Debian's Chromium (`apt-get install chromium`)")


def speech_wav(path: Path, text: str, voice: str, tail_ms: int) -> Path:
    """The fake microphone's file: Chromium loops it, so 1 s of silence, the utterance, then `tail_ms` of silence."""
    return _write_wav(path, utterance(text, MIC_RATE, voice=voice, lead_ms=1000, tail_ms=tail_ms))


def silent_wav(path: Path) -> Path:
    """A silent microphone for tests that type."""
    return _write_wav(path, np.zeros(MIC_RATE, np.int16))


def _write_wav(path: Path, samples: Samples) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(MIC_RATE)
        out.writeframes(samples.tobytes())
    return path


@contextmanager
def chromium(playwright: Playwright, mic_wav: Path) -> Iterator[Browser]:
    browser = playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=[*FLAGS, f"--use-file-for-fake-audio-capture={mic_wav}"]
    )
    try:
        yield browser
    finally:
        browser.close()


class TestPage:
    """The `/test` page through its `data-testid` hooks; waits poll (the page's CSP forbids eval)."""

    __test__ = False

    def __init__(self, page: Page) -> None:
        self.page = page
        self.problems: list[str] = []
        page.on("pageerror", lambda error: self.problems.append(str(error)))

    def by(self, testid: str) -> Locator:
        return self.page.get_by_test_id(testid)

    def connect(self) -> None:
        self.by("connect").click()
        expect(self.by("status")).to_have_attribute("data-state", "connected", timeout=15_000)

    def stats(self) -> Stats:
        stats: Stats = self.page.evaluate("() => ({...window.voicechatStats})")
        return stats

    def wait_stats(self, check: Callable[[Stats], bool], timeout: float = 30.0) -> Stats:
        deadline = time.monotonic() + timeout
        while not check(stats := self.stats()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"voicechatStats never matched: {stats}")
            self.page.wait_for_timeout(50)
        return stats

    def log_lines(self) -> list[str]:
        lines: list[str] = self.by("log").evaluate("log => [...log.children].map((line) => line.textContent)")
        return lines

    def received(self, kind: str) -> list[dict[str, Any]]:
        """Events of type `kind` from the page's event log (`← {json}` lines)."""
        events = [json.loads(line[2:]) for line in self.log_lines() if line.startswith("← {")]
        return [event for event in events if event["type"] == kind]

    def wait_received(self, kind: str, timeout: float = 20.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while not (events := self.received(kind)):
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {kind} event in the page's log: {self.log_lines()}")
            self.page.wait_for_timeout(50)
        return events

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path
