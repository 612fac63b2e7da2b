"""Intent matching and parameter extraction for the local agent (docs/local_agent.md, "Understanding").

A query is normalised (lower case, "$2,000" -> "2000 dollars", number words -> digits, "sun glasses" ->
"sunglasses" when the lexicon knows the joined word, fillers dropped). Slots are found without the carrier words:
a price after "under / below / cheaper than / ...", a product number after "product / item / number", and the
product as the longest lexicon term (mapped to its catalog value), else the words left once carrier words are
removed. The query with its slots replaced by markers ("do you sell <query>") is compared with every training
phrase (token similarity: in order, or as a set of words, whichever is closer); the best intent's similarity is
the confidence, raised when the intent's slots are all there with only carrier words around them, scaled down
when the product is not a known word. Below `FALLBACK_THRESHOLD`, or when an out-of-domain phrase is closer, the
fallback intent answers.
"""

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from local_agent.agent import Agent, Intent
from local_agent.numbers import words_to_numbers

FALLBACK_THRESHOLD = 0.6
UNKNOWN_PRODUCT_FACTOR = 0.8
ONLY_CARRIERS_CONFIDENCE = 0.9
_CONTRACTIONS = {"i'm": "i am", "i'd": "i would", "what's": "what is", "that's": "that is", "it's": "it is"}
_FILLERS = frozenset({"please", "um", "uh", "er", "okay", "ok", "so", "well", "can", "could", "you", "would"})
# Words that carry a request but never name a product ("can you show me some ...", "do you sell ...").
CARRIER_WORDS = frozenset(
    """a an the any some all show me find search for get give i im i'm we my our us want need like looking look see
    buy purchase order have has do does is are there what which have got sell selling stock carry offer
    to of with and or in on at from by just also really maybe new good nice cheap best few couple pair tell about
    more how much many would like let browse check out please something things stuff kind sort type that this these
    those it them one ones know details detail describe info information cost costs price""".split()
)
_PRICE_WORDS = r"under|below|less than|cheaper than|lower than|up to|at most|max|maximum|no more than|not more than"
_PRICE = re.compile(rf"\b(?:for )?(?:{_PRICE_WORDS}|within|budget of|budget) (\d+)(?: dollars?)?(?: or less)?\b")
_PRICE_AFTER = re.compile(r"\b(\d+) dollars? or (?:less|under|cheaper)\b")
_PRODUCT_ID = re.compile(r"\b(?:product|item|number|products|items) (?:number )?(\d+)\b")


@dataclass(frozen=True)
class Match:
    intent: str
    confidence: float
    parameters: dict[str, str | int] = field(default_factory=dict)
    intent_def: Intent | None = None


@dataclass(frozen=True)
class _Phrase:
    intent: Intent | None  # None: an out-of-domain (fallback) phrase
    tokens: tuple[str, ...]


@dataclass(frozen=True)
class Slots:
    """What one query says, with the query in slot form ("show me <query> under <max_price> dollars")."""

    form: tuple[str, ...]
    values: dict[str, str | int]
    known_product: bool

    @property
    def only_carriers(self) -> bool:
        """Whether every word outside the slots is a carrier word ("could you get me <query> please")."""
        return all(not _content(self.form, i) for i in range(len(self.form)))


def clean(text: str, lexicon: Mapping[str, str] | None = None) -> str:
    """A transcript as the NLU reads it: lower case, digits for numbers ("Product seven" -> "product 7"), "$" and
    commas in numbers resolved ("$2,000" -> "2000 dollars"), punctuation dropped, split compounds the lexicon
    knows joined ("Sun Glasses" -> "sunglasses")."""
    text = re.sub(r"(\d),(\d{3})\b", r"\1\2", text.lower())
    text = re.sub(r"\$\s?(\d+(?:\.\d+)?)", r"\1 dollars", text)
    text = re.sub(r"(\d)\.\d+", r"\1", text)
    text = re.sub(r"[^a-z0-9' ]+", " ", text.replace("-", " ")).replace("bucks", "dollars")
    text = words_to_numbers(" ".join(word.strip("'") for word in text.split()))
    return " ".join(_join_compounds(text.split(), lexicon or {}))


def normalize(text: str, lexicon: Mapping[str, str] | None = None) -> str:
    """`clean`, then contractions expanded and fillers dropped: the form matched against training phrases."""
    words = " ".join(_CONTRACTIONS.get(word, word) for word in clean(text, lexicon).split()).split()
    return " ".join(word for word in words if word not in _FILLERS)


def _join_compounds(words: list[str], lexicon: Mapping[str, str]) -> list[str]:
    out: list[str] = []
    for word in words:
        if out and (out[-1] + word) in lexicon and f"{out[-1]} {word}" not in lexicon:
            out[-1] += word
        else:
            out.append(word)
    return out


def _template_tokens(phrase: str) -> tuple[str, ...]:
    slots = re.findall(r"\{(\w+)\}", phrase)
    text = normalize(re.sub(r"\{\w+\}", " slotmarker ", phrase))
    for slot in slots:
        text = text.replace("slotmarker", f"<{slot}>", 1)
    return tuple(text.split())


class Matcher:
    """Training phrases of one agent in slot form, and the slot finders."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.lexicon = agent.lexicon or {term: term for term in agent.products}
        self.terms = sorted(self.lexicon, key=lambda term: (-len(term.split()), -len(term)))
        intents = agent.spec.intents
        self.phrases = [_Phrase(i, _template_tokens(phrase)) for i in intents for phrase in i.training_phrases]
        self.phrases += [_Phrase(None, _template_tokens(p)) for p in agent.spec.fallback.training_phrases]
        self._term_pattern = re.compile(r"\b(" + "|".join(re.escape(term) for term in self.terms) + r")\b")

    def match(self, text: str) -> Match:
        query = normalize(text, self.lexicon)
        slots = self.slots(query)
        raw = tuple(query.split())
        best: dict[str, float] = {}
        fallback_score = 0.0
        for phrase in self.phrases:
            score = max(_similarity(slots.form, phrase.tokens), _similarity(raw, phrase.tokens))
            if phrase.intent is None:
                fallback_score = max(fallback_score, score)
            else:
                name = phrase.intent.display_name
                best[name] = max(best.get(name, 0.0), score)
        if not best:
            return self._fallback(fallback_score)
        scored = {name: self._confidence(self.agent.intent(name), score, slots) for name, score in best.items()}
        name = max(scored, key=lambda key: scored[key])
        intent, confidence = self.agent.intent(name), scored[name]
        if confidence < FALLBACK_THRESHOLD or fallback_score >= confidence:
            return self._fallback(max(fallback_score, 1 - confidence))
        params = {key: value for key, value in slots.values.items() if key in intent.parameters}
        return Match(name, round(confidence, 3), params, intent)

    @staticmethod
    def _confidence(intent: Intent, similarity: float, slots: Slots) -> float:
        """Similarity, raised when the intent's required slots are all there with only carrier words around them,
        lowered for a product that is not a known word."""
        required = set(intent.required)
        complete = bool(required) and required <= slots.values.keys() and slots.only_carriers
        if complete and ("query" not in required or slots.known_product):
            return max(similarity, ONLY_CARRIERS_CONFIDENCE)
        if "query" in intent.parameters and "query" in slots.values and not slots.known_product:
            return similarity * UNKNOWN_PRODUCT_FACTOR
        return similarity

    def _fallback(self, confidence: float) -> Match:
        return Match(self.agent.spec.fallback.display_name, round(confidence, 3))

    def slots(self, query: str) -> Slots:
        """Find the price, the product number and the product in a normalised query."""
        values: dict[str, str | int] = {}
        text = query
        if m := _PRODUCT_ID.search(text):
            values["product_id"] = int(m.group(1))
            text = f"{text[: m.start()]} product <product_id> {text[m.end() :]}"
        if m := (_PRICE.search(text) or _PRICE_AFTER.search(text)):
            values["max_price"] = int(m.group(1))
            text = f"{text[: m.start()]} under <max_price> dollars {text[m.end() :]}"
        known = False
        if m := self._term_pattern.search(text):
            values["query"] = self.lexicon[m.group(1)]
            known = True
            text = f"{text[: m.start()]} <query> {text[m.end() :]}"
        else:
            text = self._free_product(text, values)
        return Slots(tuple(text.split()), values, known)

    @staticmethod
    def _free_product(text: str, values: dict[str, str | int]) -> str:
        """An unknown product: the run of words between the first and last non-carrier word."""
        words = text.split()
        content = [i for i in range(len(words)) if _content(words, i) and not words[i].isdigit()]
        content = [i for i in content if words[i] != "dollars"]
        if not content:
            return text
        first, last = content[0], content[-1]
        if any(words[i].startswith("<") for i in range(first, last + 1)):
            last = first
        values["query"] = " ".join(words[first : last + 1])
        return " ".join([*words[:first], "<query>", *words[last + 1 :]])


def _content(words: Sequence[str], index: int) -> bool:
    """Whether words[index] is neither a carrier word nor part of a slot ("under <max_price> dollars")."""
    word = words[index]
    after = words[index + 1] if index + 1 < len(words) else ""
    before = words[index - 1] if index else ""
    in_slot = (word in ("under", "product") and after.startswith("<")) or (
        word == "dollars" and before == "<max_price>"
    )
    return not (word in CARRIER_WORDS or word.startswith("<") or in_slot)


def _similarity(a: tuple[str, ...], b: tuple[str, ...]) -> float:
    """Closeness of two token sequences: in order (difflib), or as sets ("goodbye and thanks" ~ "thanks goodbye")."""
    ordered = difflib.SequenceMatcher(a=a, b=b, autojunk=False).ratio()
    words_a, words_b = set(a), set(b)
    as_sets = 2 * len(words_a & words_b) / (len(words_a) + len(words_b)) if words_a or words_b else 1.0
    return max(ordered, as_sets)
