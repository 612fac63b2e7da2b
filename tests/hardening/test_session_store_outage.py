"""JetStream away while core NATS works (the nats-server restarted without JetStream, then with it again): the
session records' KV bucket does not answer (real nats-server, services as processes).

A new session gets a clear, retryable refusal within `VOICECHAT_SESSION_START_TIMEOUT_S`, never silence:
`overloaded` with `retry_after_ms`, fatal, close 1013 (docs/protocol.md, "Connecting"). A session already open
goes on (audio, controls and events travel over core NATS), and once JetStream is back new sessions start again
(a start refused while it recovers its streams is retried after `retry_after_ms`, as a client does)."""

import asyncio
from collections.abc import Iterator

import aiohttp
import pytest

from harness.procs import wait_http
from harness.stack import Stack, running_stack
from shared.protocol import ends_turn
from voice_client.recorder import VoiceClient, connect, start_session

START_TIMEOUT_S = 3.0
STACK = ("tools_worker", "local_agent", "vad_worker", "dialog_worker", "gateway")
ENV = {"VOICECHAT_LOCAL_CX_SCRIPTED": "1", "VOICECHAT_SESSION_START_TIMEOUT_S": str(START_TIMEOUT_S)}


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with running_stack(STACK, ENV) as running:
        wait_http(running.gateway.base_url + "/readyz")
        yield running


async def answered(client: VoiceClient) -> str:
    """Ask a typed question; the type of the event that ended its turn."""
    seen = len(client.events)
    await client.send({"type": "text_input", "text": "show me shoes"})
    done = await client.wait_for(
        lambda e: client.events.index(e) >= seen and ends_turn(e["type"], e.get("code")), timeout=30
    )
    return str(done["type"])


def restart_nats(stack: Stack, jetstream: bool) -> None:
    stack.nats.jetstream = jetstream
    stack.nats.restart()
    wait_http(stack.gateway.base_url + "/readyz", timeout=30)  # the gateway is back on NATS, workers answer


async def test_without_jetstream_new_sessions_are_refused_at_once_and_open_ones_go_on(stack: Stack) -> None:
    async with aiohttp.ClientSession() as http:
        open_one = await connect(http, stack.gateway.base_url)
        assert await answered(open_one) == "audio_end"
        await asyncio.to_thread(restart_nats, stack, False)

        refused = await connect(http, stack.gateway.base_url, wait_start=False)
        error = await refused.wait_for("error", timeout=START_TIMEOUT_S + 5)
        assert error["code"] == "overloaded" and error["fatal"] is True, error
        assert error["retry_after_ms"] > 0
        await asyncio.wait_for(refused._reader, 5)
        assert refused.ws.close_code == 1013
        assert [e["type"] for e in refused.events] == ["error"]

        assert await answered(open_one) == "audio_end"  # the open session is served all along

        await asyncio.to_thread(restart_nats, stack, True)
        # JetStream recovers its streams after the restart: a start refused meanwhile is retried as documented
        again = await start_session(http, stack.gateway.base_url, answer_s=START_TIMEOUT_S + 5)
        assert await answered(again) == "audio_end"
        for client in (open_one, again):
            await client.send({"type": "end_session"})
            await client.close()
