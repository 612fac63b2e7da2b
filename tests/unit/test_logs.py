"""Logs never carry a session id above DEBUG nor a token at any level; DEBUG keeps the id for local debugging."""

import json
from collections.abc import Iterator

import pytest
import structlog

from shared.logs import configure_logging, get_logger, session_ref

SESSION = "0123456789abcdef0123456789abcdef"


@pytest.fixture(autouse=True)
def _fresh_logging() -> Iterator[None]:
    """These tests log into pytest's captured stdout, closed after each test: later tests must not print there."""
    yield
    structlog.reset_defaults()


def lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_session_ids_and_tokens_are_redacted_above_debug(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("test", "DEBUG")
    log = get_logger("test")
    with structlog.contextvars.bound_contextvars(session_id=SESSION):
        log.info("opened", token="secret-jwt", resume_token="abc")
        log.debug("detail", token="debug-jwt", resume_token="debug-resume")
    info, debug = lines(capsys.readouterr().out)
    assert SESSION not in json.dumps(info) and "secret-jwt" not in json.dumps(info) and "abc" not in json.dumps(info)
    assert info["session_ref"] == session_ref(SESSION) and info["service"] == "test"
    assert debug["session_id"] == SESSION  # DEBUG may carry the session id, and nothing else
    assert "debug-jwt" not in json.dumps(debug) and "debug-resume" not in json.dumps(debug)
