"""Embedded backend: an in-memory SQLite FTS5 index of the catalog, BM25-ranked, queried from a thread pool.

The index is built once at start-up, serialized, and each pool thread opens its own copy, so lookups run in
parallel with the event loop (SQLite releases the GIL while it works) and never share a connection.
"""

import asyncio
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor

import msgspec

from shared.tools.errors import ToolError
from shared.tools.schemas import ProductResult, SearchProducts, SearchResult, encoder
from tools_worker.catalog import CatalogItem
from tools_worker.query import category_slug, fts_match, keywords

_SCHEMA = """
CREATE TABLE products(id INTEGER PRIMARY KEY, price REAL NOT NULL, category TEXT NOT NULL, rating REAL,
                      summary BLOB NOT NULL, detail BLOB NOT NULL);
CREATE VIRTUAL TABLE products_fts USING fts5(title, description, category, tags, brand,
                                             tokenize = 'porter unicode61 remove_diacritics 2');
"""
# BM25 column weights: title, description, category, tags, brand.
_RANK = "bm25(products_fts, 10.0, 1.0, 6.0, 6.0, 4.0)"
MAX_TOTAL = 1000  # `total` counts matches up to this many (counting every match of a common word is slow)
_FILTER = "(:max_price IS NULL OR p.price <= :max_price) AND (:category IS NULL OR p.category = :category)"
# Unfiltered: rank inside the index, join only the page; filtered: the filter needs every match's row.
_TOP = f"""SELECT p.summary FROM (SELECT rowid, {_RANK} AS score FROM products_fts WHERE products_fts MATCH :match
ORDER BY score LIMIT :limit) AS hits JOIN products p ON p.id = hits.rowid ORDER BY hits.score, p.id"""
_TOP_COUNT = "SELECT count(*) FROM (SELECT 1 FROM products_fts WHERE products_fts MATCH :match LIMIT :cap)"
_MATCHES = f"""FROM products_fts CROSS JOIN products p ON p.id = products_fts.rowid
WHERE products_fts MATCH :match AND {_FILTER}"""
_FILTERED = f"SELECT p.summary {_MATCHES} ORDER BY {_RANK}, p.id LIMIT :limit"
_FILTERED_COUNT = f"SELECT count(*) FROM (SELECT 1 {_MATCHES} LIMIT :cap)"
_BROWSE = f"SELECT p.summary FROM products p WHERE {_FILTER} ORDER BY p.rating DESC, p.id LIMIT :limit"
_BROWSE_COUNT = f"SELECT count(*) FROM (SELECT 1 FROM products p WHERE {_FILTER} LIMIT :cap)"
_DETAIL = "SELECT detail FROM products WHERE id = ?"


def build_index(items: list[CatalogItem]) -> bytes:
    """Build the FTS5 index in memory and return it serialized."""
    db = sqlite3.connect(":memory:")
    try:
        db.executescript(_SCHEMA)
        db.executemany(
            "INSERT INTO products VALUES (?, ?, ?, ?, ?, ?)",
            [(i.id, i.price, i.category, i.rating, *_documents(i)) for i in items],
        )
        db.executemany(
            "INSERT INTO products_fts(rowid, title, description, category, tags, brand) VALUES (?, ?, ?, ?, ?, ?)",
            [(i.id, i.title, i.description, i.category, " ".join(i.tags), i.brand or "") for i in items],
        )
        db.commit()
        db.execute("INSERT INTO products_fts(products_fts) VALUES ('optimize')")
        db.commit()
        return db.serialize()
    finally:
        db.close()


def _documents(item: CatalogItem) -> tuple[bytes, bytes]:
    """The pre-encoded JSON answers for a product: its search summary and its `get_product` detail."""
    return encoder.encode(item.summary()), encoder.encode(item.detail())


def _match(words: list[str], category: str | None, any_word: bool = False) -> str:
    """The MATCH expression; a category also narrows the candidates inside the index (SQL then checks it exactly)."""
    expression = fts_match(words, any_word)
    if not category:
        return expression
    return f"({expression}) AND {{category}} : ({fts_match(category_slug(category).split('-'))})"


class EmbeddedBackend:
    """Search and lookup over the catalog index; every query runs on a pool thread with its own connection."""

    def __init__(self, items: list[CatalogItem], threads: int = 4) -> None:
        self._image = build_index(items)
        self._local = threading.local()
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="fts")
        self.size = len(items)

    async def search(self, request: SearchProducts) -> SearchResult:
        return await asyncio.get_running_loop().run_in_executor(self._pool, self.search_sync, request)

    async def get_product(self, product_id: int) -> ProductResult:
        loop = asyncio.get_running_loop()
        row = await loop.run_in_executor(self._pool, self._one, _DETAIL, (product_id,))
        if row is None:
            raise ToolError("not_found", f"no product with id {product_id}")
        return ProductResult(product=msgspec.Raw(row[0]))

    async def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def search_sync(self, request: SearchProducts) -> SearchResult:
        """Run one search on the calling thread: AND of the words first, then OR if nothing matched."""
        params: dict[str, object] = {
            "max_price": request.max_price,
            "category": category_slug(request.category) if request.category else None,
            "limit": request.limit,
            "cap": MAX_TOTAL,
        }
        words = keywords(request.query)
        if not words:
            return self._run(_BROWSE, _BROWSE_COUNT, params)
        filtered = request.max_price is not None or request.category is not None
        sql, count_sql = (_FILTERED, _FILTERED_COUNT) if filtered else (_TOP, _TOP_COUNT)
        result = self._run(sql, count_sql, {**params, "match": _match(words, request.category)})
        if result.total == 0 and len(words) > 1:
            result = self._run(sql, count_sql, {**params, "match": _match(words, request.category, any_word=True)})
        return result

    def _run(self, sql: str, count_sql: str, params: dict[str, object]) -> SearchResult:
        db = self._connection()
        rows = db.execute(sql, params).fetchall()
        total = len(rows)
        if total == params["limit"]:
            total = db.execute(count_sql, params).fetchone()[0]
        return SearchResult(products=[msgspec.Raw(row[0]) for row in rows], total=total)

    def _one(self, sql: str, args: tuple[object, ...]) -> tuple[bytes] | None:
        row: tuple[bytes] | None = self._connection().execute(sql, args).fetchone()
        return row

    def _connection(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(":memory:", check_same_thread=False)
            db.deserialize(self._image)
            db.execute("PRAGMA query_only = ON")
            self._local.db = db
        return db
