"""Fixtures of the conversation log tests: a fresh nats-server with JetStream per test, and record builders."""

import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import msgspec
import nats
import pytest
from nats.aio.client import Client as NATS

from harness.nats_server import NatsServer
from shared.convlog.records import SessionStarted, ToolCall, TurnRecord


@pytest.fixture
def server() -> Iterator[NatsServer]:
    running = NatsServer().start()
    yield running
    running.close()


@pytest.fixture
async def client(server: NatsServer) -> AsyncIterator[NATS]:
    nc = await nats.connect(server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.1)
    yield nc
    await nc.close()


def new_session() -> str:
    return uuid.uuid4().hex


def started(session_id: str, subject: str | None = None) -> SessionStarted:
    return SessionStarted(session_id=session_id, at=time.time(), connection=uuid.uuid4().hex[:8], subject=subject)


def turn(session_id: str, turn_id: int, **fields: Any) -> TurnRecord:
    record = TurnRecord(
        session_id=session_id,
        at=time.time(),
        turn_id=turn_id,
        turn_key=uuid.uuid4().hex[:8],
        input="text",
        outcome="answered",
        transcript=f"query {turn_id}",
    )
    return msgspec.structs.replace(record, **fields)


def search(query: str, ids: list[int]) -> ToolCall:
    return ToolCall(tool="search_products", arguments={"query": query}, product_ids=ids, total=len(ids))
