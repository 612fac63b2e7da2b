"""Start-up steps against a JetStream that is not ready yet (shared/kv.py `when_ready`): retried while the error
says "not ready", for a bounded time; any other error is not retried."""

from collections.abc import Awaitable, Callable

import pytest
from nats.errors import NoRespondersError
from nats.js.errors import BadRequestError

from shared import kv
from shared.kv import NoLeaderYet, when_ready


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kv, "STARTUP_RETRY_S", 0.01)


def failing(errors: list[Exception]) -> tuple[list[int], Callable[[], Awaitable[str]]]:
    calls: list[int] = []

    async def step() -> str:
        calls.append(1)
        if len(calls) <= len(errors):
            raise errors[len(calls) - 1]
        return "done"

    return calls, step


async def test_a_step_is_retried_until_jetstream_answers() -> None:
    calls, step = failing([NoRespondersError(), NoLeaderYet("KV_x")])
    assert await when_ready("x", step) == "done"
    assert len(calls) == 3


async def test_a_step_gives_up_after_its_bound() -> None:
    calls, step = failing([NoRespondersError()] * 1000)
    with pytest.raises(NoRespondersError):
        await when_ready("x", step, within_s=0.05)
    assert 1 < len(calls) < 1000


async def test_other_errors_are_not_retried() -> None:
    calls, step = failing([BadRequestError()])
    with pytest.raises(BadRequestError):
        await when_ready("x", step)
    assert len(calls) == 1
