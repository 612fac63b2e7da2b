"""The one exception every layer of the tools service raises for a request it cannot answer, with its code."""

from typing import Literal

ErrorCode = Literal["invalid_request", "not_found", "upstream_unavailable", "internal", "timeout", "unavailable"]


class ToolError(Exception):
    """A service error: `code` is machine-readable (see docs/tools.md), `message` is for humans."""

    def __init__(self, code: ErrorCode | str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
