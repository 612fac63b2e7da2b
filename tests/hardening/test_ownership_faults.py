"""Ownership under faults, each a finding of issue 12 that the code before fenced ownership failed (real
nats-server, services as processes): one socket per session, turn ids going on after a move, a typed retry right
after a dialog worker's crash, and a gateway drain within the pod's grace with clients that do not answer."""

import asyncio
import signal
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from gateway.app import SHUTDOWN_TIMEOUT_S
from harness.procs import Service, owned_sessions, wait_http
from harness.stack import Stack, running_stack
from shared.protocol import ends_turn
from shared.runtime import NATS_DRAIN_S
from tests.support.raw_ws import RawWebSocket
from voice_client.recorder import VoiceClient, connect

STACK = ("tools_worker", "local_agent", "vad_worker", "dialog_worker", "dialog_worker", "gateway")
DRAIN_GRACE_S, CLOSE_TIMEOUT_S = 3.0, 1.0
ENV = {
    "VOICECHAT_LOCAL_CX_SCRIPTED": "1",
    "VOICECHAT_DRAIN_GRACE_S": str(DRAIN_GRACE_S),
    "VOICECHAT_SOCKET_CLOSE_TIMEOUT_S": str(CLOSE_TIMEOUT_S),
}


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with running_stack(STACK, ENV) as running:
        wait_http(running.gateway.base_url + "/readyz")
        yield running


async def typed_turn(client: VoiceClient, text: str = "hello") -> dict[str, Any]:
    """Send a typed request; the event that ended its turn."""
    seen = len(client.events)
    await client.send({"type": "text_input", "text": text})
    return await client.wait_for(
        lambda e: client.events.index(e) >= seen and ends_turn(e["type"], e.get("code")), timeout=20
    )


def dialog_owner(stack: Stack) -> Service:
    """The dialog worker that owns the test's session (each test ends its sessions: it is the only one)."""
    return max((s for s in stack.services if s.module == "dialog_worker"), key=owned_sessions)


def ends(event: dict[str, Any]) -> bool:
    return ends_turn(event["type"], event.get("code"))


async def end(client: VoiceClient) -> None:
    await client.send({"type": "end_session"})
    await client.close()


async def test_a_second_socket_takes_the_session_over_and_the_first_is_told(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    first = await connect(http, stack.gateway.base_url)
    second = await connect(http, stack.gateway.base_url, resume=first.resume_token)  # the first is still open
    replaced = await first.wait_for("error")
    assert replaced["code"] == "session_replaced" and replaced["fatal"] is True
    await asyncio.wait_for(first._reader, 5)
    assert first.ws.close_code == 4000
    assert (await typed_turn(second))["type"] == "audio_end"
    assert [e for e in first.events if e["type"] not in ("session_start", "error")] == []
    await end(second)


async def test_a_request_in_flight_when_the_dialog_worker_crashed_is_answered_once(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    """kill -9 with the request in flight: unanswered so far, it is sent to the new owner and answered; if its
    turn had begun, it fails once (`turn_failed`) and a retry at once is answered."""
    client = await connect(http, stack.gateway.base_url)
    first = await typed_turn(client)
    assert first["type"] == "audio_end"
    owner = dialog_owner(stack)
    await client.send({"type": "text_input", "text": "show me some sunglasses"})
    owner.kill()
    over = await client.wait_for(lambda e: e.get("turn_id", 0) > first["turn_id"] and ends(e), timeout=40)
    if over["type"] == "error":
        assert over["code"] == "turn_failed", over
        retry = await typed_turn(client, "show me some sunglasses")  # at once: the new owner may still be moving in
        assert retry["type"] == "audio_end"
        assert retry["turn_id"] > over["turn_id"]
    else:
        assert over["type"] == "audio_end", over
    assert len([e for e in client.events if e.get("turn_id", 0) > first["turn_id"] and ends(e)]) == 1 + (
        over["type"] == "error"
    )
    await end(client)
    owner.start()


async def test_turn_ids_go_on_after_a_resume_to_a_new_dialog_owner(stack: Stack, http: aiohttp.ClientSession) -> None:
    client = await connect(http, stack.gateway.base_url)
    for _ in range(2):
        assert (await typed_turn(client))["type"] == "audio_end"
    await client.ws.close()  # dropped (not ended): the record keeps where the session was
    await client.close()
    owner = dialog_owner(stack)
    owner.kill()  # the owner holding the session's state is gone: the resume lands on the other one
    resumed = await connect(http, stack.gateway.base_url, resume=client.resume_token)
    last = await typed_turn(resumed)
    assert last["type"] == "audio_end" and last["turn_id"] == 3
    await end(resumed)
    owner.start()


async def test_a_gateway_drains_within_its_grace_when_clients_do_not_answer(stack: Stack) -> None:
    gateway = stack.add("gateway")
    wait_http(gateway.base_url + "/readyz")
    port = int(gateway.base_url.rsplit(":", 1)[1])
    silent = [RawWebSocket("127.0.0.1", port, "/ws/voice-chat") for _ in range(4)]  # never answer a close
    await asyncio.sleep(1.0)
    started = time.monotonic()
    gateway.signal(signal.SIGTERM)
    assert gateway.proc is not None
    await asyncio.to_thread(gateway.proc.wait, 60)
    took = time.monotonic() - started
    assert took < DRAIN_GRACE_S + SHUTDOWN_TIMEOUT_S + NATS_DRAIN_S, f"drain took {took:.1f} s"
    assert all(sock.read_until_closed(1.0) for sock in silent)
    for sock in silent:
        sock.close()
    stack.services.remove(gateway)
