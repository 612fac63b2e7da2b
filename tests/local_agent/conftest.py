"""Fixtures: the local CX server in-process on a free port (Whisper by default, pocketsphinx by indirect
parametrisation of `local_cx`, or scripted) and the real CX async client."""

import itertools
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from google.cloud.dialogflowcx_v3 import SessionsAsyncClient
from google.cloud.dialogflowcx_v3.services.sessions.transports import SessionsGrpcAsyncIOTransport

from harness.ports import free_port
from local_agent.server import AgentOptions, LocalCxServer, start_server
from tests.local_agent.cx import AGENT

_ids = itertools.count()


async def _client(port: int) -> Any:
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    return SessionsAsyncClient(transport=SessionsGrpcAsyncIOTransport(channel=channel)), channel


@pytest.fixture
async def local_cx(request: pytest.FixtureRequest) -> AsyncIterator[LocalCxServer]:
    server = await start_server("127.0.0.1", free_port(), AgentOptions(asr=getattr(request, "param", "whisper")))
    yield server
    await server.stop(grace_s=0.5)


@pytest.fixture
async def scripted_cx() -> AsyncIterator[LocalCxServer]:
    server = await start_server("127.0.0.1", free_port(), AgentOptions(asr="scripted"))
    yield server
    await server.stop(grace_s=0.5)


@pytest.fixture
async def client(local_cx: LocalCxServer) -> AsyncIterator[Any]:
    cx_client, channel = await _client(local_cx.port)
    yield cx_client
    await channel.close()


@pytest.fixture
async def scripted_client(scripted_cx: LocalCxServer) -> AsyncIterator[Any]:
    cx_client, channel = await _client(scripted_cx.port)
    yield cx_client
    await channel.close()


@pytest.fixture
def session() -> str:
    return f"{AGENT}/sessions/test-{next(_ids)}"
