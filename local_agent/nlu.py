"""Intent matching and parameter extraction for the local agent.

A query is normalised (lower case, "$50" -> "50 dollars", number words -> digits, fillers dropped) and matched
against the training phrases compiled to regular expressions (`{query}` free text, number slots digits). When no
phrase matches exactly, token similarity with the phrases picks the intent and the parameters are spotted
(product words, "under N", "product N"). Below the threshold the fallback intent answers.
"""

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from local_agent.agent import Agent, Intent
from local_agent.numbers import words_to_numbers

FUZZY_THRESHOLD = 0.6
_FILLERS = frozenset({"please", "um", "uh", "okay", "ok", "so", "well", "can", "could", "you"})
_ARTICLES = ("a ", "an ", "some ", "any ", "the ")
_PRICE = re.compile(r"\b(?:under|below|less than|cheaper than|up to|at most|max) (\d+)(?: dollars)?")
_PRODUCT_ID = re.compile(r"\b(?:product|item|number) (\d+)\b")


@dataclass(frozen=True)
class Match:
    intent: str
    confidence: float
    parameters: dict[str, str | int] = field(default_factory=dict)
    intent_def: Intent | None = None


@dataclass(frozen=True)
class _Phrase:
    intent: Intent
    pattern: re.Pattern[str]
    tokens: tuple[str, ...]
    literal_words: int


def normalize(text: str) -> str:
    text = re.sub(r"\$\s?(\d+(?:\.\d+)?)", r"\1 dollars", text.lower())
    text = re.sub(r"(\d)\.\d+", r"\1", text)
    text = re.sub(r"[^a-z0-9' ]+", " ", text.replace("-", " ")).replace("bucks", "dollars")
    text = words_to_numbers(" ".join(word.strip("'") for word in text.split()))
    return " ".join(word for word in text.split() if word not in _FILLERS)


def _slot_regex(name: str, entity_kind: str) -> str:
    if entity_kind == "number":
        return rf"(?P<{name}>\d+)"
    return rf"(?P<{name}>[a-z0-9' ]+?)"


def _compile(intent: Intent, phrase: str, kinds: Mapping[str, str]) -> _Phrase:
    parts = re.split(r"(\{\w+\})", normalize_template(phrase))
    regex = ""
    for part in parts:
        if part.startswith("{"):
            name = part[1:-1]
            regex += _slot_regex(name, kinds[intent.parameters[name]])
        else:
            regex += re.escape(part).replace(r"\ dollars", r"(?:\ dollars)?")
    literal = re.sub(r"\{\w+\}", " ", phrase).split()
    tokens = tuple(re.sub(r"\{(\w+)\}", r"<\1>", normalize_template(phrase)).split())
    return _Phrase(intent, re.compile(regex), tokens, len(literal))


def normalize_template(phrase: str) -> str:
    slots = re.findall(r"\{\w+\}", phrase)
    text = normalize(re.sub(r"\{\w+\}", " slotmarker ", phrase))
    for slot in slots:
        text = text.replace("slotmarker", slot, 1)
    return text


class Matcher:
    """Compiled training phrases of one agent."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        kinds = {name: entity.kind for name, entity in agent.spec.entity_types.items()}
        self.phrases = [
            _compile(intent, phrase, kinds) for intent in agent.spec.intents for phrase in intent.training_phrases
        ]
        self.fallback_tokens = [tuple(normalize(p).split()) for p in agent.spec.fallback.training_phrases]

    def match(self, text: str) -> Match:
        query = normalize(text)
        exact = [(p, m) for p in self.phrases if (m := p.pattern.fullmatch(query))]
        if exact:
            phrase, found = max(exact, key=lambda pair: pair[0].literal_words)
            return Match(phrase.intent.display_name, 1.0, _clean(found.groupdict()), phrase.intent)
        return self._fuzzy(query)

    def _fuzzy(self, query: str) -> Match:
        slotted = self._slot_form(query)
        best: tuple[float, Intent | None] = (0.0, None)
        for phrase in self.phrases:
            score = difflib.SequenceMatcher(a=slotted, b=phrase.tokens).ratio()
            best = max(best, (score, phrase.intent), key=lambda pair: pair[0])
        fallback = max((difflib.SequenceMatcher(a=slotted, b=t).ratio() for t in self.fallback_tokens), default=0.0)
        score, intent = best
        if intent is None or score < FUZZY_THRESHOLD or fallback >= score:
            return Match(self.agent.spec.fallback.display_name, round(max(fallback, 1 - score), 3))
        return Match(intent.display_name, round(score, 3), self._spot(query, intent), intent)

    def _slot_form(self, query: str) -> tuple[str, ...]:
        text = _PRODUCT_ID.sub(r"product <product_id>", query)
        text = _PRICE.sub(r"under <max_price> dollars", text)
        for term in self.agent.products:
            text = re.sub(rf"\b{re.escape(term)}\b", "<query>", text)
        return tuple(re.sub(r"(<query> ?)+", "<query> ", text).split())

    def _spot(self, query: str, intent: Intent) -> dict[str, str | int]:
        found: dict[str, str] = {}
        if "product_id" in intent.parameters and (m := _PRODUCT_ID.search(query)):
            found["product_id"] = m.group(1)
        if "max_price" in intent.parameters and (m := _PRICE.search(query)):
            found["max_price"] = m.group(1)
            query = query[: m.start()] + query[m.end() :]
        if "query" in intent.parameters:
            terms = [t for t in self.agent.products if re.search(rf"\b{re.escape(t)}\b", query)]
            if terms:
                found["query"] = max(terms, key=len)
        return _clean(found)


def _clean(groups: Mapping[str, str | None]) -> dict[str, str | int]:
    params: dict[str, str | int] = {}
    for name, value in groups.items():
        if value is None:
            continue
        if value.isdigit():
            params[name] = int(value)
            continue
        for article in _ARTICLES:
            value = value.removeprefix(article)
        params[name] = value.strip()
    return params
