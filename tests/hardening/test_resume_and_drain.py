"""Resume on another gateway with the conversation continuing; graceful drain of every service with no failed turn."""

import asyncio
import signal
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from harness.procs import Service, owned_sessions, wait_http
from harness.stack import Stack, running_stack
from voice_client.recorder import VoiceClient, connect

TWO_OF_EACH = (
    "tools_worker",
    "local_agent",
    "vad_worker",
    "vad_worker",
    "dialog_worker",
    "dialog_worker",
    "gateway",
    "gateway",
)


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with running_stack(TWO_OF_EACH) as running:
        for gateway in gateways(running):
            wait_http(gateway.base_url + "/readyz")
        yield running


def gateways(stack: Stack) -> list[Service]:
    return [s for s in stack.services if s.module == "gateway"]


def of_turn(client: VoiceClient, kind: str, turn_id: int) -> Any:
    return lambda e: e["type"] == kind and e.get("turn_id") == turn_id


async def test_resume_on_another_gateway_continues_the_conversation(stack: Stack, http: aiohttp.ClientSession) -> None:
    first, second = gateways(stack)
    client = await connect(http, first.base_url)
    await client.send({"type": "text_input", "text": "show me sunglasses under thirty dollars"})
    intent = await client.wait_for(of_turn(client, "intent", 1))
    assert intent["parameters"]["max_price"] == 30
    await client.ws.close()  # the connection drops; the session lives on in the workers
    start = client.start
    resumed = await connect(http, second.base_url, resume=client.resume_token)
    assert resumed.start["resumed"] is True and resumed.start["session_id"] == start["session_id"]
    await resumed.send({"type": "text_input", "text": "tell me about product five"})
    intent = await resumed.wait_for(lambda e: e["type"] == "intent", timeout=15)
    assert intent["turn_id"] == 2  # the same dialog state: turn numbering goes on
    assert intent["parameters"]["product_id"] == 5
    assert intent["parameters"]["max_price"] == 30  # the Dialogflow session kept the earlier parameters
    await resumed.wait_for("audio_end", timeout=20)
    await resumed.close()


async def test_sigterm_of_each_worker_kind_fails_no_turn(stack: Stack, http: aiohttp.ClientSession) -> None:
    clients = [await connect(http, gateways(stack)[0].base_url) for _ in range(4)]
    for round_, kind in enumerate(("dialog_worker", "vad_worker")):
        in_flight, after = 2 * round_ + 1, 2 * round_ + 2
        running = [s for s in stack.services if s.module == kind and s.proc and s.proc.poll() is None]
        owner = max(running, key=owned_sessions)
        for client in clients:
            await client.send({"type": "text_input", "text": "hello what can you do"})
        for client in clients:
            await client.wait_for(of_turn(client, "audio_response", in_flight), timeout=15)
        owner.signal(signal.SIGTERM)  # mid-answer: every turn in flight must still complete
        for client in clients:
            await client.wait_for(of_turn(client, "audio_end", in_flight), timeout=40)
        assert owner.proc is not None and owner.proc.wait(timeout=30) == 0
        for client in clients:  # the next turn is served by the remaining worker
            await client.send({"type": "text_input", "text": "hello"})
        for client in clients:
            await client.wait_for(of_turn(client, "audio_end", after), timeout=30)
    for client in clients:
        assert client.of_type("error") == [] and client.of_type("interrupted") == []
        await client.close()


async def test_sigterm_of_a_gateway_closes_1001_and_sessions_resume_elsewhere(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    leaving, staying = gateways(stack)
    clients = [await connect(http, leaving.base_url) for _ in range(3)]
    leaving.signal(signal.SIGTERM)
    for client in clients:
        await asyncio.wait_for(client._reader, 10)
        assert client.ws.close_code == 1001
    assert leaving.proc is not None and leaving.proc.wait(timeout=15) == 0
    for client in clients:
        resumed = await connect(http, staying.base_url, resume=client.resume_token)
        assert resumed.start["resumed"] is True and resumed.start["session_id"] == client.start["session_id"]
        await resumed.send({"type": "text_input", "text": "hello"})
        await resumed.wait_for("audio_end", timeout=20)
        assert resumed.of_type("error") == []
        await resumed.close()


async def test_a_draining_gateway_closes_idle_sessions_at_once_and_busy_ones_after_their_turn(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    """Each socket closes (1001) once its own session is idle, not when every session is."""
    leaving = next(g for g in gateways(stack) if g.proc is not None and g.proc.poll() is None)
    busy, idle = await connect(http, leaving.base_url), await connect(http, leaving.base_url)
    await busy.send({"type": "text_input", "text": "tell me about product 3"})  # a long spoken answer
    await busy.wait_for("audio_response", timeout=20)
    leaving.signal(signal.SIGTERM)
    await asyncio.wait_for(idle._reader, 10)
    assert idle.ws.close_code == 1001
    assert busy.of_type("audio_end") == [] and not busy.ws.closed  # still answering when the idle one closed
    end = await busy.wait_for("audio_end", timeout=20)
    await asyncio.wait_for(busy._reader, 10)
    assert busy.ws.close_code == 1001 and end["turn_id"] == 1 and busy.of_type("error") == []
    assert leaving.proc is not None and leaving.proc.wait(timeout=15) == 0
