"""Public JSON schemas of the tools endpoints (msgspec): requests reject unknown fields, decoders built once."""

from typing import Annotated

import msgspec

MAX_QUERY_CHARS = 500
MAX_LIMIT = 50

Query = Annotated[str, msgspec.Meta(max_length=MAX_QUERY_CHARS)]
Price = Annotated[float, msgspec.Meta(ge=0)]
Limit = Annotated[int, msgspec.Meta(ge=1, le=MAX_LIMIT)]
ProductId = Annotated[int, msgspec.Meta(ge=1)]


class SearchProducts(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """`search_products` request."""

    query: Query
    max_price: Price | None = None
    category: Annotated[str, msgspec.Meta(max_length=100)] | None = None
    limit: Limit = 5


class GetProduct(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """`get_product` request."""

    product_id: ProductId


class Product(msgspec.Struct, frozen=True):
    """One search hit (also the summary part of a product)."""

    id: int
    title: str
    price: float
    category: str
    brand: str | None = None
    rating: float | None = None
    stock: int | None = None
    thumbnail: str | None = None


class ProductDetail(Product, frozen=True):
    """`get_product` result: the summary plus description and tags."""

    description: str = ""
    tags: list[str] = msgspec.field(default_factory=list)


class SearchResult(msgspec.Struct):
    """`search_products` response; products are pre-encoded JSON (`Raw`) or structs."""

    products: list[msgspec.Raw] | list[Product]
    total: int


class ProductResult(msgspec.Struct):
    """`get_product` response."""

    product: msgspec.Raw | ProductDetail


class ErrorBody(msgspec.Struct):
    code: str
    message: str


class ErrorResponse(msgspec.Struct):
    """Body of every error response (the code is also in the `Nats-Service-Error-Code` header)."""

    error: ErrorBody


search_decoder = msgspec.json.Decoder(SearchProducts)
get_decoder = msgspec.json.Decoder(GetProduct)
encoder = msgspec.json.Encoder()
