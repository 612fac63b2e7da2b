"""The keypad table (gateway/twilio/dtmf.py): every phase x key, and the timeout."""

import pytest

from gateway.twilio.dtmf import MAX_DIGITS, DtmfCollector

T = 3.0


def typed(keys: str, collector: DtmfCollector | None = None, now: float = 0.0) -> list[str]:
    collector = collector or DtmfCollector(T)
    return [text for key in keys if (text := collector.press(key, now)) is not None]


@pytest.mark.parametrize(
    ("keys", "requests"),
    [
        ("7#", ["tell me about product 7"]),
        ("12#", ["tell me about product 12"]),
        ("007#", ["tell me about product 7"]),
        ("#", []),
        ("7*#", []),  # * cancels
        ("7*3#", ["tell me about product 3"]),
        ("7A#", []),  # A-D cancel like *
        ("1#2#", ["tell me about product 1", "tell me about product 2"]),
        ("1234567#", [f"tell me about product {'1234567'[:MAX_DIGITS]}"]),
    ],
)
def test_keys(keys: str, requests: list[str]) -> None:
    assert typed(keys) == requests


def test_digits_without_hash_are_sent_after_the_timeout() -> None:
    collector = DtmfCollector(T)
    assert collector.press("4", 10.0) is None
    assert collector.press("2", 11.0) is None
    assert collector.tick(13.9) is None  # the timeout runs from the last key
    assert collector.tick(14.0) == "tell me about product 42"
    assert collector.tick(20.0) is None and collector.deadline is None


def test_idle_collector_never_sends() -> None:
    collector = DtmfCollector(T)
    assert collector.tick(1e9) is None
    assert typed("*", collector) == []
