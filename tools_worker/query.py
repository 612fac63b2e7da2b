"""Natural-language product queries to safe FTS5 MATCH expressions.

Words are split on anything that is not a letter or digit, so FTS5 syntax (quotes, `*`, `-`, parentheses, colons)
never reaches SQLite; every remaining word is emitted as a quoted string, so `NEAR`, `OR`, `AND` and `NOT` are only
ever plain words. Stop words and spoken numbers ("any", "show me", "under two thousand") are dropped; plurals are
handled by the FTS5 porter tokenizer on both the index and the query, and by `singular` for the REST backend.
"""

import re

_WORD = re.compile(r"[^\W_]+")
MAX_TERMS = 12

_NUMBER_WORDS = """zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen
sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred thousand million
k grand dollar dollars usd bucks euro euros cents""".split()

STOP_WORDS = frozenset(
    """a an the any some all show me find search get give i im we you your my our us can could would will
    please want need like looking look see buy purchase order have has do does is are there what which who how much
    many tell about of for with without in on at to from by and or not near under below less than over above more
    around within up cheap cheaper cheapest expensive price prices priced cost costs costing budget max maximum
    product products item items thing things something stuff good nice best new one ones that this these those it
    them just also only really very maybe hey hi ok okay so then than but if be been am was were got""".split()
    + _NUMBER_WORDS
)


# Plurals the porter stemmer does not bring back to their singular's stem.
_IRREGULAR = {"knives": "knife", "shelves": "shelf", "leaves": "leaf", "loaves": "loaf"}


def keywords(text: str) -> list[str]:
    """The content words of a query, lower-cased, in order, without duplicates (at most MAX_TERMS)."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(text.lower()):
        if word not in STOP_WORDS and (len(word) > 1 or word.isdigit()) and len(seen) < MAX_TERMS:
            seen.setdefault(_IRREGULAR.get(word, word))
    return list(seen)


def fts_match(words: list[str], any_word: bool = False) -> str:
    """An FTS5 MATCH expression: every word required (or any word), each a quoted string literal."""
    quoted = [f'"{word}"' for word in words if _WORD.fullmatch(word)]
    return (" OR " if any_word else " AND ").join(quoted)


def singular(word: str) -> str:
    """A light English singular for substring search upstream: laptops -> laptop, watches -> watch."""
    if len(word) <= 3 or word.endswith("ss"):
        return word
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "sses", "xes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("us", "is")):
        return word[:-1]
    return word


def category_slug(category: str) -> str:
    """Catalog categories are slugs: "Womens Watches" -> "womens-watches"."""
    return "-".join(_WORD.findall(category.lower()))
