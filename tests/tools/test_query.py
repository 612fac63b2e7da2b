"""Unit tests of the query layer: stop words, plurals, and no FTS5 syntax ever reaching SQLite."""

import sqlite3

from hypothesis import given
from hypothesis import strategies as st

from tools_worker.query import category_slug, fts_match, keywords, singular


def test_stop_words_and_spoken_numbers_are_dropped() -> None:
    assert keywords("any sunglasses") == ["sunglasses"]
    assert keywords("show me laptops under two thousand dollars") == ["laptops"]
    assert keywords("Red red RED shoes") == ["red", "shoes"]


def test_operators_are_plain_words() -> None:
    assert fts_match(keywords('"red" OR shoe* NEAR(x y) -boots')) == '"red" AND "shoe" AND "boots"'
    assert fts_match(["red", "shoes"], any_word=True) == '"red" OR "shoes"'


def test_singular() -> None:
    assert [singular(w) for w in ["laptops", "watches", "batteries", "glass", "dress", "shoes", "bus"]] == [
        "laptop",
        "watch",
        "battery",
        "glass",
        "dress",
        "shoe",
        "bus",
    ]


def test_category_slug() -> None:
    assert category_slug(" Womens Watches ") == "womens-watches"


@given(st.text(max_size=200))
def test_any_text_makes_a_valid_match_expression(text: str) -> None:
    expression = fts_match(keywords(text))
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE t USING fts5(body, tokenize = 'porter unicode61 remove_diacritics 2')")
    db.execute("INSERT INTO t VALUES ('red shoes')")
    if expression:
        db.execute("SELECT count(*) FROM t WHERE t MATCH ?", (expression,)).fetchone()
