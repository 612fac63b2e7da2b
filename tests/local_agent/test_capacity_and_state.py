"""Bounded compute and durable state: a recognition beyond the pool waits its bounded time and is refused with
RESOURCE_EXHAUSTED; a restarted agent carries on a conversation (the pending tool call, the context)."""

import asyncio
import threading
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.api_core import exceptions
from google.cloud.dialogflowcx_v3 import SessionsAsyncClient
from google.cloud.dialogflowcx_v3.services.sessions.transports import SessionsGrpcAsyncIOTransport

from harness.ports import free_port
from harness.speech import speech_pcm
from local_agent.server import AgentOptions, LocalCxServer, start_server
from tests.local_agent.cx import intent_of, stream_turn, text_query, texts, tool_calls, tool_result


async def _with_client(server: LocalCxServer) -> tuple[Any, grpc.aio.Channel]:
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
    return SessionsAsyncClient(transport=SessionsGrpcAsyncIOTransport(channel=channel)), channel


async def test_a_full_pool_refuses_with_resource_exhausted(session: str) -> None:
    options = AgentOptions(asr="pocketsphinx", asr_workers=1, asr_wait_s=0.2)
    server = await start_server("127.0.0.1", free_port(), options)
    client, channel = await _with_client(server)
    release = threading.Event()
    busy = asyncio.create_task(server.service.pool.run(lambda: release.wait(30)))
    try:
        await asyncio.sleep(0.05)
        with pytest.raises(exceptions.ResourceExhausted):
            await stream_turn(client, session, speech_pcm("hello there"), single=False)
        assert server.service.pool.waiting == 0
        release.set()
        await busy
        turn = await stream_turn(client, session, speech_pcm("hello there"), single=False)
        assert intent_of(turn.final) == "greeting"
    finally:
        release.set()
        await channel.close()
        await server.stop(grace_s=0.5)


async def test_a_restarted_agent_carries_on_the_conversation(tmp_path: Path, session: str) -> None:
    options = AgentOptions(asr="pocketsphinx", sessions_path=tmp_path / "sessions.sqlite3")
    first = await start_server("127.0.0.1", free_port(), options)
    client, channel = await _with_client(first)
    response = await text_query(client, session, "i need perfume under one hundred dollars")
    assert tool_calls(response)
    await channel.close()
    await first.stop(grace_s=0.5)

    second = await start_server("127.0.0.1", free_port(), options)
    client, channel = await _with_client(second)
    try:
        answer = await tool_result(client, session, "search_products", {"products": [], "total": 0})
        assert texts(answer) == "Sorry, I could not find any fragrances under 100 dollars."
        refined = await text_query(client, session, "cheaper than thirty dollars")
        assert dict(tool_calls(refined)[0].input_parameters) == {"query": "fragrances", "max_price": 30, "limit": 5}
    finally:
        await channel.close()
        await second.stop(grace_s=0.5)
