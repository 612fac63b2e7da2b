"""The `tools` NATS service (nats.micro): product search and lookup over an embedded SQLite FTS5 catalog or a
DummyJSON-compatible REST API. Request and response schemas are documented in docs/tools.md."""

__version__ = "1.0.0"
