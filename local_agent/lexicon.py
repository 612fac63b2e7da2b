"""The shop's words as the NLU reads them: every spoken variant of a product term mapped to the value searched.

Variants are the term itself, its singular or plural ("laptop" / "laptops", "watch" / "watches") and, for a
two-word term, the two words written as one ("sun glasses" / "sunglasses"). Synonyms from `local_agent/agent.json`
map to catalog categories ("perfume" -> "fragrances", "sofa" -> "furniture"); a spoken category maps to its slug
("womens bags" -> "womens-bags"); any other term maps to itself. See docs/local_agent.md.
"""

from collections.abc import Iterable, Mapping


def singular(word: str) -> str:
    """A light English singular: laptops -> laptop, watches -> watch, accessories -> accessory, glass stays."""
    if len(word) <= 3 or word.endswith(("ss", "us", "is")):
        return word
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "sses", "xes")):
        return word[:-2]
    return word[:-1] if word.endswith("s") else word


def plural(word: str) -> str:
    if word.endswith("y") and len(word) > 2 and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    if word.endswith(("ch", "sh", "ss", "x")):
        return word + "es"
    return word if word.endswith("s") else word + "s"


def variants(term: str) -> list[str]:
    """`term` first, then its number variants, then the same written as one word (two-word terms only)."""
    head, _, last = term.rpartition(" ")
    prefix = f"{head} " if head else ""
    forms = [term, prefix + singular(last), prefix + plural(singular(last))]
    if head and " " not in head:
        forms += [form.replace(" ", "") for form in forms]
    return list(dict.fromkeys(forms))


def build_lexicon(
    terms: Iterable[str], categories: Mapping[str, str], synonyms: Mapping[str, Iterable[str]]
) -> dict[str, str]:
    """Spoken form -> value. `categories` maps a spoken category to its slug; `synonyms` maps a value to the words
    that mean it. Synonyms win over categories, categories over plain terms, an exact form over a variant."""
    groups = [
        [(word, value) for value, words in synonyms.items() for word in words],
        list(categories.items()),
        [(term, term) for term in terms],
    ]
    lexicon: dict[str, str] = {}
    for group in groups:
        for word, value in group:
            lexicon.setdefault(word, value)
        for word, value in group:
            for form in variants(word)[1:]:
                lexicon.setdefault(form, value)
    return lexicon
