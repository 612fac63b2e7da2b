"""The tools service contract: request/response schemas, error codes and the client call (docs/tools.md)."""
