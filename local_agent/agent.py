"""The local agent definition: agent.json (intents, entity types, tools, responses) plus catalog vocabulary.

Product words for the `product` entity type come from the agent file and, at start, from the catalog's
categories, tags and brands, so the recognisers and the matcher know what the shop sells; the lexicon
(local_agent/lexicon.py) maps each spoken variant and synonym to the value searched.
"""

import re
from pathlib import Path
from typing import Literal

import msgspec

from local_agent.lexicon import build_lexicon
from shared.settings import DEFAULT_CATALOG

AGENT_FILE = Path(__file__).with_name("agent.json")


class EntityType(msgspec.Struct, frozen=True):
    kind: Literal["catalog", "number"]
    entities: tuple[str, ...] = ()
    catalog_fields: tuple[str, ...] = ()
    synonyms: dict[str, tuple[str, ...]] = {}


class Tool(msgspec.Struct, frozen=True):
    description: str
    inputs: dict[str, str]


class Intent(msgspec.Struct, frozen=True):
    display_name: str
    training_phrases: tuple[str, ...]
    responses: dict[str, str]
    parameters: dict[str, str] = {}
    required: tuple[str, ...] = ()
    tool: str | None = None
    tool_defaults: dict[str, int | float | str] = {}


class Fallback(msgspec.Struct, frozen=True):
    display_name: str
    training_phrases: tuple[str, ...]
    response: str


class AgentFile(msgspec.Struct, frozen=True):
    display_name: str
    language_code: str
    voice: str
    entity_types: dict[str, EntityType]
    tools: dict[str, Tool]
    intents: tuple[Intent, ...]
    fallback: Fallback


class CatalogProduct(msgspec.Struct):
    category: str = ""
    tags: list[str] = []
    brand: str = ""


class Agent(msgspec.Struct, frozen=True):
    """The agent file with its product vocabulary resolved (lower-case phrases, longest first) and its lexicon
    (spoken variant -> value searched)."""

    spec: AgentFile
    products: tuple[str, ...]
    lexicon: dict[str, str] = {}
    categories: tuple[str, ...] = ()

    def intent(self, display_name: str) -> Intent:
        for intent in self.spec.intents:
            if intent.display_name == display_name:
                return intent
        raise KeyError(display_name)


def normalize_term(term: str) -> str:
    """Catalog term to spoken words: "mens-shoes" -> "mens shoes", "Dolce & Gabbana" -> "dolce gabbana"."""
    words = re.sub(r"[^a-z0-9' ]+", " ", term.lower().replace("-", " "))
    return " ".join(word.strip("'") for word in words.split() if word.strip("'"))


def _catalog(catalog: Path) -> list[CatalogProduct]:
    raw = msgspec.json.decode(catalog.read_bytes())
    items = raw["products"] if isinstance(raw, dict) else raw
    return msgspec.convert(items, list[CatalogProduct], strict=False)


def catalog_terms(catalog: Path, fields: tuple[str, ...]) -> set[str]:
    """Categories, tags and brands of a DummyJSON catalog (a list or `{"products": [...]}`)."""
    products = _catalog(catalog)
    terms: set[str] = set()
    for product in products:
        values = {"category": [product.category], "tags": product.tags, "brand": [product.brand]}
        for field in fields:
            terms.update(normalize_term(value) for value in values.get(field, []))
    terms.discard("")
    return terms


def load_agent(catalog: Path = Path(DEFAULT_CATALOG), agent_file: Path = AGENT_FILE) -> Agent:
    spec = msgspec.json.decode(agent_file.read_bytes(), type=AgentFile)
    terms: set[str] = set()
    synonyms: dict[str, list[str]] = {}
    for entity_type in spec.entity_types.values():
        if entity_type.kind == "catalog":
            terms.update(normalize_term(entity) for entity in entity_type.entities)
            terms.update(catalog_terms(catalog, entity_type.catalog_fields))
            for value, words in entity_type.synonyms.items():
                synonyms.setdefault(value, []).extend(normalize_term(word) for word in words)
    categories = {normalize_term(p.category): p.category for p in _catalog(catalog) if p.category}
    products = tuple(sorted(terms, key=lambda term: (-len(term.split()), term)))
    lexicon = build_lexicon(products, categories, synonyms)
    return Agent(spec=spec, products=products, lexicon=lexicon, categories=tuple(sorted(set(categories.values()))))
