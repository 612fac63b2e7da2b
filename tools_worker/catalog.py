"""Load a product catalog file: a JSON array, a DummyJSON dump (`{"products": [...]}`) or JSON Lines."""

from pathlib import Path

import msgspec

from shared.settings import DEFAULT_CATALOG
from shared.tools.schemas import Product, ProductDetail


class CatalogItem(msgspec.Struct, frozen=True):
    """A catalog record: the fields the service uses; any other field (reviews, sku, ...) is ignored."""

    id: int
    title: str
    price: float
    category: str
    description: str = ""
    brand: str | None = None
    rating: float | None = None
    stock: int | None = None
    thumbnail: str | None = None
    tags: list[str] = msgspec.field(default_factory=list)

    def summary(self) -> Product:
        return Product(**{name: getattr(self, name) for name in Product.__struct_fields__})

    def detail(self) -> ProductDetail:
        return ProductDetail(**msgspec.structs.asdict(self))


class _Dump(msgspec.Struct):
    products: list[CatalogItem]


_items = msgspec.json.Decoder(list[CatalogItem] | _Dump)
_item = msgspec.json.Decoder(CatalogItem)


class CatalogError(ValueError):
    """The catalog file is missing or malformed; the message names the file and the problem."""


def load_catalog(path: str | Path = DEFAULT_CATALOG) -> list[CatalogItem]:
    """Read and validate every record; duplicate ids are an error."""
    source = Path(path)
    try:
        raw = source.read_bytes()
        items = _parse(raw, jsonl=source.suffix in (".jsonl", ".ndjson"))
    except (OSError, msgspec.DecodeError) as exc:
        raise CatalogError(f"cannot load catalog {source}: {exc}") from exc
    ids = {item.id for item in items}
    if len(ids) != len(items):
        raise CatalogError(f"catalog {source} has duplicate product ids")
    return items


def _parse(raw: bytes, jsonl: bool) -> list[CatalogItem]:
    if jsonl:
        return [_item.decode(line) for line in raw.splitlines() if line.strip()]
    parsed = _items.decode(raw)
    return parsed.products if isinstance(parsed, _Dump) else parsed
