"""A session moving to a new dialog owner, with real speech (issue 12, findings 3 and 7; services as processes,
real nats-server, the Whisper local agent):

- a shopper who barges in while the dialog worker answering them drains (SIGTERM) gets `interrupted{n}` before
  anything of turn n+1, and no audio of turn n after `speech_started{n+1}`;
- after a resume to a new dialog owner, turn ids and audio time (`offset_ms` of speech events) go on.
"""

import asyncio
import signal
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from harness.procs import Service, owned_sessions, wait_http
from harness.speech import frames, utterance
from harness.stack import Stack, running_stack
from shared.protocol import ends_turn
from voice_client.recorder import VoiceClient, connect

STACK = ("tools_worker", "local_agent", "vad_worker", "dialog_worker", "dialog_worker", "gateway")
LONG_ANSWER = "show me running shoes"  # a list of products: several seconds of answer audio
BARGE_IN = "hello what can you do"
# when the owner gets SIGTERM: before the shopper speaks (the speech lands while the session moves, or once the new
# owner has it and the old one still finishes the answer), or while the shopper already talks over the answer
# (paused: the speech is not yet a turn when the session moves)
WHEN = ("before speech", "before speech, 1.5 s", "during speech")


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with running_stack(STACK) as running:
        wait_http(running.gateway.base_url + "/readyz")
        yield running


def dialog_owner(stack: Stack) -> Service:
    """The dialog worker owning the test's session (each test ends its session: it is the only one)."""
    running = [s for s in stack.services if s.module == "dialog_worker" and s.proc and s.proc.poll() is None]
    return max(running, key=owned_sessions)


def index_of(events: list[dict[str, Any]], kind: str, turn_id: int) -> int:
    found = [i for i, e in enumerate(events) if e["type"] == kind and e.get("turn_id") == turn_id]
    assert found, (kind, turn_id, [(e["type"], e.get("turn_id")) for e in events])
    return found[0]


def of_turn(events: list[dict[str, Any]], turn_id: int) -> list[str]:
    return [e["type"] for e in events if e.get("turn_id") == turn_id]


async def end(client: VoiceClient) -> None:
    await client.send({"type": "end_session"})
    await client.close()


@pytest.mark.parametrize("when", WHEN)
async def test_barge_in_while_the_dialog_owner_drains(stack: Stack, http: aiohttp.ClientSession, when: str) -> None:
    client = await connect(http, stack.gateway.base_url)
    await client.send({"type": "text_input", "text": LONG_ANSWER})
    await client.wait_for(lambda e: e["type"] == "audio_response" and e["turn_id"] == 1, timeout=30)
    owner = dialog_owner(stack)
    speech = frames(utterance(BARGE_IN, 16000, "en+klatt", lead_ms=100), 16000)
    if when == "during speech":
        await asyncio.sleep(0.5)  # past the echo guard
        talking = asyncio.create_task(client.stream(speech))
        await client.wait_for(lambda e: e["type"] == "paused" and e["turn_id"] == 1, timeout=10)
        owner.signal(signal.SIGTERM)
        await talking
    else:
        owner.signal(signal.SIGTERM)  # mid-answer: the owner hands the session over and finishes its turn
        await asyncio.sleep(0.5 if when == "before speech" else 1.5)
        await client.stream(speech)
    started = await client.wait_for(lambda e: e["type"] == "speech_started" and e["turn_id"] == 2, timeout=20)
    await client.wait_for(lambda e: e.get("turn_id") == 2 and ends_turn(e["type"], e.get("code")), timeout=40)
    assert owner.proc is not None and await asyncio.to_thread(owner.proc.wait, 40) == 0
    events = client.events
    assert of_turn(events, 2)[-1] == "audio_end", of_turn(events, 2)
    first_of_2 = min(i for i, e in enumerate(events) if e.get("turn_id") == 2)
    interrupted = index_of(events, "interrupted", 1)  # the answer was cut, not finished over the new speech
    assert interrupted < first_of_2, [(e["type"], e.get("turn_id")) for e in events]
    after_start = events[events.index(started) :]
    assert [e for e in after_start if e.get("turn_id") == 1] == []  # nothing of turn 1 once turn 2 started
    assert [e for e in events[interrupted + 1 :] if e.get("turn_id") == 1] == []
    assert [t for t in of_turn(events, 1) if t in ("audio_end", "interrupted", "error")] == ["interrupted"]
    assert client.of_type("error") == []
    await end(client)
    stack.services.remove(owner)
    stack.add("dialog_worker")


async def test_a_resume_to_a_new_dialog_owner_continues_turns_and_audio_time(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    client = await connect(http, stack.gateway.base_url)
    await client.stream(frames(utterance(BARGE_IN, 16000, "en+klatt"), 16000))
    ended = await client.wait_for(lambda e: e["type"] == "speech_ended" and e["turn_id"] == 1, timeout=20)
    await client.wait_for(lambda e: e.get("turn_id") == 1 and ends_turn(e["type"], e.get("code")), timeout=40)
    await client.ws.close()  # dropped (not ended): the record keeps where the session was
    await client.close()
    owner = dialog_owner(stack)
    owner.kill()  # the owner holding the session's state is gone: the resume lands on the other one
    resumed = await connect(http, stack.gateway.base_url, resume=client.resume_token)
    speech = frames(utterance("thank you goodbye", 16000, "en-us+f2", lead_ms=100, tail_ms=100), 16000)
    await resumed.send({"type": "start_speaking"})  # push-to-talk: the new owner's first message
    await resumed.stream(speech)
    await resumed.send({"type": "stop_speaking"})
    started = await resumed.wait_for("speech_started", timeout=20)
    next_ended = await resumed.wait_for("speech_ended", timeout=20)
    assert started["turn_id"] == next_ended["turn_id"] == 2
    assert started["offset_ms"] >= ended["offset_ms"], (started, ended)  # audio time went on, not back to 0
    assert next_ended["offset_ms"] >= started["offset_ms"] + 20 * (len(speech) - 1)
    await resumed.wait_for(lambda e: e.get("turn_id") == 2 and ends_turn(e["type"], e.get("code")), timeout=40)
    assert [e for e in resumed.events if e.get("turn_id") not in (None, 2)] == []
    await end(resumed)
    owner.start()
