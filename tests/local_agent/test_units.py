"""Pure parts of the local agent: number words and the bounded session store."""

import pytest

from local_agent.numbers import number_to_words, words_to_numbers
from local_agent.sessions import SessionStore


@pytest.mark.parametrize(
    ("spoken", "digits"),
    [
        ("under fifty dollars", "under 50 dollars"),
        ("two thousand", "2000"),
        ("product twelve", "product 12"),
        ("one hundred and fifty dollars", "150 dollars"),
        ("product forty two and product three", "product 42 and product 3"),
        ("a phone", "a phone"),
    ],
)
def test_words_to_numbers(spoken: str, digits: str) -> None:
    assert words_to_numbers(spoken) == digits


def test_number_words_round_trip() -> None:
    for value in (1, 13, 40, 99, 150, 2000, 2500, 194):
        assert words_to_numbers(number_to_words(value)) == str(value)


def test_session_store_is_bounded_by_count_and_idle_time() -> None:
    store = SessionStore(max_sessions=2, ttl_s=10.0)
    state = store.get_or_create("a", now=0.0)
    state.parameters["x"] = 1
    store.save("a", state, now=0.0)
    store.get_or_create("b", now=1.0)
    assert store.get("a", now=2.0) is not None  # refreshes "a"
    store.get_or_create("c", now=3.0)  # evicts the least recently used: "b"
    assert store.get("b", now=3.0) is None
    assert store.get("a", now=4.0).parameters == {"x": 1}  # type: ignore[union-attr]
    assert store.get("a", now=20.0) is None
    assert len(store) == 0
