"""Dialog failures: tools down or stalled, the local agent down and back or failing mid-speech, a dialog worker
killed, endless speech."""

import asyncio
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import aiohttp
import nats
import pytest

from harness.procs import Service, metric, owned_sessions, wait_http
from harness.speech import frames, utterance
from harness.stack import Stack, running_stack
from shared import subjects
from voice_client.recorder import VoiceClient, connect

WITHOUT_TOOLS = ("local_agent", "vad_worker", "dialog_worker", "gateway")
RESENT_AFTER_CRASH = 'voicechat_resent_requests_total{why="owner_crashed"}'


async def text_turn(client: VoiceClient, text: str, turn_id: int) -> dict[str, Any]:
    """Send a typed request; return the turn's last event (audio_end, or an error)."""
    await client.send({"type": "text_input", "text": text})
    return await client.wait_for(
        lambda e: e.get("turn_id") == turn_id and e["type"] in ("audio_end", "error"), timeout=30
    )


async def test_tools_unavailable_or_stalled_gets_an_apology() -> None:
    with running_stack(WITHOUT_TOOLS, {"VOICECHAT_TOOL_TIMEOUT_S": "0.5"}) as stack:
        wait_http(stack.gateway.base_url + "/readyz")
        async with aiohttp.ClientSession() as http:
            client = await connect(http, stack.gateway.base_url)
            failed = await text_turn(client, "show me some sunglasses", 1)
            assert failed["type"] == "error" and failed["code"] == "tool_failed" and failed["fatal"] is False
            answer = await client.wait_for(lambda e: e["type"] == "response_text" and e["turn_id"] == 1)
            assert "sorry" in answer["text"].lower()
            await client.wait_for(lambda e: e["type"] == "audio_end" and e["turn_id"] == 1, timeout=20)
            # A tools service that accepts requests but never answers: the call times out, same apology.
            stalled = await nats.connect(stack.nats.url)
            await stalled.subscribe("voicechat.tools.search_products", cb=_never_answer)
            await stalled.flush()
            failed = await text_turn(client, "show me some laptops", 2)
            assert failed["code"] == "tool_failed"
            await client.wait_for(lambda e: e["type"] == "audio_end" and e["turn_id"] == 2, timeout=20)
            await stalled.close()
            await client.close()


async def _never_answer(_: Any) -> None:
    """A stalled backend: takes the request and never replies."""


async def test_local_agent_down_then_back() -> None:
    with running_stack(WITHOUT_TOOLS) as stack:
        wait_http(stack.gateway.base_url + "/readyz")
        agent = next(s for s in stack.services if s.module == "local_agent")
        async with aiohttp.ClientSession() as http:
            client = await connect(http, stack.gateway.base_url)
            agent.kill()
            failed = await text_turn(client, "hello", 1)
            assert failed["type"] == "error" and failed["code"] == "dialog_unavailable"
            await asyncio.to_thread(agent.start)  # loads its speech model: the client's loop keeps running meanwhile
            await asyncio.sleep(1.0)  # the worker's channel reconnects within its 0.5 s backoff
            back = await text_turn(client, "hello", 2)
            assert back["type"] == "audio_end"
            assert (await client.wait_for(lambda e: e["type"] == "intent" and e["turn_id"] == 2))["name"] == "greeting"
            await client.close()


@contextmanager
def one_dialog_worker(owner_stale_s: int) -> Iterator[tuple[Stack, Service]]:
    """A stack whose only dialog worker may stall for less than `owner_stale_s` without being moved; a typed request
    no event answers is overdue after 1 s."""
    env = {"VOICECHAT_TURN_ANSWER_TIMEOUT_S": "1", "VOICECHAT_OWNER_STALE_S": str(owner_stale_s)}
    with running_stack(WITHOUT_TOOLS, env) as stack:
        wait_http(stack.gateway.base_url + "/readyz")
        yield stack, next(s for s in stack.services if s.module == "dialog_worker")


async def test_a_request_nothing_answers_in_time_is_failed_once_and_its_late_answer_dropped() -> None:
    """The dialog worker stalls (SIGSTOP) for less than its liveness allows (VOICECHAT_OWNER_STALE_S raised to 3 s
    here, so it is not moved): no event answers the typed request, so the gateway reports it `turn_failed` after
    VOICECHAT_TURN_ANSWER_TIMEOUT_S rather than leave the shopper waiting; once the worker runs again, what it
    says of that turn never reaches the client, and the next request is answered."""
    with one_dialog_worker(owner_stale_s=3) as (stack, dialog):
        async with aiohttp.ClientSession() as http:
            client = await connect(http, stack.gateway.base_url)
            dialog.signal(signal.SIGSTOP)
            try:
                failed = await text_turn(client, "hello", 1)
                assert failed["type"] == "error" and failed["code"] == "turn_failed", failed
            finally:
                dialog.signal(signal.SIGCONT)
            assert metric(stack.gateway, "voicechat_unanswered_requests_total") == 1
            back = await text_turn(client, "hello", 2)
            assert back["type"] == "audio_end", back
            assert [e["type"] for e in client.events if e.get("turn_id") == 1] == ["error"]
            await client.close()


async def answered_ping(nats_url: str, kind: str) -> None:
    """Until a worker of `kind` answers its readiness ping: it is connected, its subscriptions replayed."""
    nc = await nats.connect(nats_url)
    try:
        for _ in range(100):
            try:
                await nc.request(subjects.ping(kind), b"", timeout=0.2)
                return
            except (nats.errors.TimeoutError, nats.errors.NoRespondersError):
                await asyncio.sleep(0.1)
        raise AssertionError(f"no {kind} worker answers its ping")
    finally:
        await nc.close()


async def test_a_request_lost_with_the_bus_does_not_shift_the_turns_after_it() -> None:
    """NATS restarts while the dialog worker stalls (SIGSTOP, shorter than its liveness): the typed request reaches
    nobody, and neither does the gateway's notice that it failed. Once the worker is back, the next request is
    answered as the turn after the failed one: the worker numbers it as the gateway expects. (It used to reuse the
    failed turn's id, which the gateway drops: from then on, no request of the session was ever answered.)"""
    with one_dialog_worker(owner_stale_s=15) as (stack, dialog):
        async with aiohttp.ClientSession() as http:
            client = await connect(http, stack.gateway.base_url)
            assert (await text_turn(client, "hello", 1))["type"] == "audio_end"
            dialog.signal(signal.SIGSTOP)
            try:
                stack.nats.restart()
                failed = await text_turn(client, "hello", 2)
                assert failed["type"] == "error" and failed["code"] == "turn_failed", failed
            finally:
                dialog.signal(signal.SIGCONT)
            await answered_ping(stack.nats.url, "dialog")
            back = await text_turn(client, "hello", 3)
            assert back["type"] == "audio_end", back
            assert [e["type"] for e in client.events if e.get("turn_id") == 2] == ["error"]
            await client.close()


async def test_agent_unavailable_while_the_shopper_speaks_fails_the_turn_once() -> None:
    """CX fails UNAVAILABLE mid-utterance (the local agent's outage, local_agent/outage.py): `error{1}` once, while
    the shopper still speaks; nothing of turn 1 after it (no `speech_ended{1}`, no `interrupted{1}`), the rest of
    that utterance opens no turn, and the next utterance is answered as turn 2."""
    with running_stack(WITHOUT_TOOLS, {"VOICECHAT_DIALOG_START_RETRY_S": "0.5"}) as stack:
        wait_http(stack.gateway.base_url + "/readyz")
        agent = next(s for s in stack.services if s.module == "local_agent")
        long_speech = utterance("show me some running shoes in size ten please " * 3, 16000, "en-us+f2", lead_ms=200)
        async with aiohttp.ClientSession() as http:
            client = await connect(http, stack.gateway.base_url)
            speaking = asyncio.create_task(client.stream(frames(long_speech, 16000)))
            await client.wait_for(lambda e: e["type"] == "speech_started" and e["turn_id"] == 1, timeout=10)
            agent.signal(signal.SIGUSR1)
            failed = await client.wait_for(lambda e: e["type"] == "error" and e.get("turn_id") == 1, timeout=10)
            assert failed["code"] == "turn_failed" and failed["fatal"] is False
            assert not speaking.done(), "the error came after the utterance: not mid-speech"
            agent.signal(signal.SIGUSR2)
            await speaking
            await client.stream(frames(utterance("", 16000, lead_ms=0, tail_ms=1500), 16000))  # silence
            assert [e for e in client.events if e.get("turn_id", 0) > 1] == []  # the rest opened no turn
            await client.stream(frames(utterance("hello there", 16000, "en-us+f2"), 16000))
            end = await client.wait_for(lambda e: e.get("turn_id") == 2 and e["type"] in ("audio_end", "error"), 30)
            assert end["type"] == "audio_end"
            turn_1 = [e["type"] for e in client.events if e.get("turn_id") == 1]
            assert turn_1[-1] == "error" and turn_1.count("error") == 1, turn_1
            assert "interrupted" not in turn_1 and "speech_ended" not in turn_1, turn_1
            await client.close()


@pytest.mark.parametrize("fault", ["killed", "stalled 5 s"])
async def test_dialog_worker_killed_or_stalled_next_turn_served_by_the_other(fault: str) -> None:
    """Requests typed right after the kill (or the stall: SIGSTOP, SIGCONT 5 s later, past its liveness) reach
    that worker before the gateway can know it is gone (its liveness key has not expired yet): each is sent again
    to the survivor and answered once, never failed; what a stalled worker says when it wakes is not heard."""
    modules = ("tools_worker", "local_agent", "vad_worker", "dialog_worker", "dialog_worker", "gateway")
    with running_stack(modules) as stack:
        wait_http(stack.gateway.base_url + "/readyz")
        async with aiohttp.ClientSession() as http:
            clients = [await connect(http, stack.gateway.base_url) for _ in range(4)]
            dialogs = [s for s in stack.services if s.module == "dialog_worker"]
            victim = max(dialogs, key=owned_sessions)
            if fault == "killed":
                victim.kill()
            else:
                victim.signal(signal.SIGSTOP)
            try:
                turns = asyncio.gather(*(text_turn(client, "hello", 1) for client in clients))
                if fault != "killed":
                    await asyncio.sleep(5.0)
                    victim.signal(signal.SIGCONT)
                ends = await turns
            finally:
                victim.signal(signal.SIGCONT)
            assert all(end["type"] == "audio_end" for end in ends), ends
            assert all(client.of_type("error") == [] for client in clients)
            assert all(len(client.of_type("audio_end")) == 1 for client in clients)  # answered once
            assert all("interrupted" not in [e["type"] for e in client.events] for client in clients)
            survivor = next(s for s in dialogs if s is not victim)
            if fault == "killed":
                assert metric(stack.gateway, RESENT_AFTER_CRASH) >= 1  # the victim owned some
                assert owned_sessions(survivor) == 4
            else:  # a claim the stalled worker missed may be retried to it once it is awake: it takes that back
                assert owned_sessions(survivor) + owned_sessions(victim) == 4
            for client in clients:
                await client.close()


async def test_endless_speech_is_ended_at_the_turn_limit() -> None:
    with running_stack(WITHOUT_TOOLS, {"VOICECHAT_MAX_TURN_SPEECH_S": "2"}) as stack:
        wait_http(stack.gateway.base_url + "/readyz")
        speech = utterance("hello " * 30, 16000, "en-us+f2", lead_ms=200, tail_ms=0)
        assert speech.size > 16000 * 4
        async with aiohttp.ClientSession() as http:
            client = await connect(http, stack.gateway.base_url)
            streaming = asyncio.create_task(client.stream(frames(speech, 16000)))
            ended = await client.wait_for("speech_ended", timeout=10)
            assert ended["turn_id"] == 1 and ended["offset_ms"] < speech.size / 16
            await client.wait_for(lambda e: e["type"] in ("intent", "error") and e["turn_id"] == 1, timeout=10)
            streaming.cancel()
            await client.close()


async def test_killed_tools_worker_next_lookup_served_by_the_other() -> None:
    modules = ("tools_worker", "tools_worker", *WITHOUT_TOOLS)
    with running_stack(modules, {"VOICECHAT_LOCAL_CX_SCRIPTED": "1"}) as stack:  # short answers, real lookups
        wait_http(stack.gateway.base_url + "/readyz")
        async with aiohttp.ClientSession() as http:
            client = await connect(http, stack.gateway.base_url)
            assert (await text_turn(client, "show me some sunglasses", 1))["type"] == "audio_end"
            stack.services[0].kill()
            for turn in (2, 3, 4):  # the queue group routes every lookup to the survivor
                assert (await text_turn(client, "show me some laptops", turn))["type"] == "audio_end"
            assert client.of_type("error") == []
            await client.close()
