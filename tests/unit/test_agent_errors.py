"""The dialog worker's reaction to an agent that cannot take a turn: bounded retry at the start, error codes."""

import pytest
from google.api_core import exceptions

from dialog_worker.agent_errors import error_code, retry_at_start


def unavailable(message: str) -> exceptions.GoogleAPICallError:
    return exceptions.ServiceUnavailable(message)  # type: ignore[no-untyped-call]


def exhausted(message: str) -> exceptions.GoogleAPICallError:
    return exceptions.ResourceExhausted(message)  # type: ignore[no-untyped-call]


def invalid(message: str) -> exceptions.GoogleAPICallError:
    return exceptions.InvalidArgument(message)  # type: ignore[no-untyped-call]


def test_unreachable_or_exhausted_agent_is_dialog_unavailable() -> None:
    assert error_code(unavailable("failed to connect to all addresses")) == "dialog_unavailable"
    assert error_code(exhausted("all recognition workers busy")) == "dialog_unavailable"
    assert error_code(unavailable("connection reset mid-call")) == "turn_failed"
    assert error_code(invalid("bad session")) == "turn_failed"


async def test_unavailable_at_start_is_retried_until_it_works() -> None:
    failures: list[str] = []
    calls = 0

    async def attempt(answered: list[bool]) -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise unavailable("failed to connect")
        return "answer"

    assert await retry_at_start(attempt, 5.0, failures.append) == "answer"
    assert failures == ["UNAVAILABLE", "UNAVAILABLE"]


async def test_a_call_the_stopping_agent_cancelled_before_answering_is_retried() -> None:
    """An agent told to stop cancels calls it received but had not started (rolling update): its replacement
    answers them."""
    failures: list[str] = []
    calls = 0

    async def attempt(answered: list[bool]) -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise exceptions.Cancelled("server shutting down")  # type: ignore[no-untyped-call]
        return "answer"

    assert await retry_at_start(attempt, 5.0, failures.append) == "answer"
    assert failures == ["CANCELLED"]


async def test_no_retry_once_the_agent_answered_or_for_other_errors() -> None:
    calls = 0

    async def answered_then_lost(answered: list[bool]) -> str:
        nonlocal calls
        calls += 1
        answered[0] = True
        raise unavailable("stream reset")

    with pytest.raises(exceptions.ServiceUnavailable):
        await retry_at_start(answered_then_lost, 5.0, lambda _: None)
    assert calls == 1

    async def refused(answered: list[bool]) -> str:
        raise exhausted("busy")

    with pytest.raises(exceptions.ResourceExhausted):
        await retry_at_start(refused, 5.0, lambda _: None)


async def test_retry_stops_at_the_deadline() -> None:
    failures: list[str] = []

    async def down(answered: list[bool]) -> str:
        raise unavailable("failed to connect")

    with pytest.raises(exceptions.ServiceUnavailable):
        await retry_at_start(down, 0.6, failures.append)
    assert 2 <= len(failures) <= 4  # every 0.25 s within 0.6 s, then the error
