"""structlog JSON logging to stdout, with `session_id` bound through contextvars.

Session ids are secrets-adjacent (with a resume token they reopen a session), so above DEBUG the id is replaced
by `session_ref`, a short one-way digest that still correlates the lines of one session. Tokens (JWTs, resume
tokens) are dropped at every level, DEBUG included.
"""

import hashlib
import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

_SENSITIVE = ("session_id", "resume_token", "token")


def session_ref(session_id: str) -> str:
    return hashlib.blake2b(session_id.encode(), digest_size=6).hexdigest()


def _redact(_: Any, method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in _SENSITIVE[1:]:
        event.pop(key, None)
    if method == "debug":
        return event
    session_id = event.pop("session_id", None)
    if isinstance(session_id, str):
        event["session_ref"] = session_ref(session_id)
    return event


def configure_logging(service: str, level: str = "INFO") -> None:
    """JSON lines on stdout; call once at process start."""
    numeric = logging.getLevelName(level)
    logging.basicConfig(stream=sys.stdout, level=numeric, format="%(message)s")
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            _redact,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
