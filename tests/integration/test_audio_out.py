"""Response audio on the wire: JSON `audio_response` events (the default) or binary frames (`audio_out=binary`),
and permessage-deflate only where a setting allows it (docs/protocol.md)."""

import base64
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from harness.procs import wait_http
from harness.stack import FULL_STACK, Stack, running_stack
from voice_client.recorder import BINARY_AUDIO, VoiceClient, connect

SCRIPTED = {"VOICECHAT_LOCAL_CX_SCRIPTED": "1"}  # a fixed search turn with the same spoken answer every time
QUERY = {"type": "text_input", "text": "show me shoes"}


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with running_stack(FULL_STACK, env=SCRIPTED) as running:
        wait_http(running.gateway.base_url + "/readyz")
        yield running


async def answer(client: VoiceClient) -> list[dict[str, Any]]:
    """Ask the scripted question; every event of the turn up to and including its `audio_end`."""
    await client.send(QUERY)
    end = await client.wait_for("audio_end", timeout=30)
    return [e for e in client.events if e.get("turn_id") == end["turn_id"]]


async def test_binary_frames_carry_the_same_answer_as_json_events(stack: Stack) -> None:
    async with aiohttp.ClientSession() as http:
        json_client = await connect(http, stack.gateway.base_url, "?sample_rate=16000")
        binary_client = await connect(http, stack.gateway.base_url, "?sample_rate=16000&audio_out=binary")
        assert (json_client.start["audio_out"], binary_client.start["audio_out"]) == ("json", "binary")
        as_json, as_binary = await answer(json_client), await answer(binary_client)
        await json_client.close()
        await binary_client.close()
    chunks = [e for e in as_json if e["type"] == "audio_response"]
    frames = [e for e in as_binary if e["type"] == BINARY_AUDIO]
    assert chunks and not any(e["type"] == BINARY_AUDIO for e in as_json)
    assert frames and not any(e["type"] == "audio_response" for e in as_binary)
    assert [f["seq"] for f in frames] == list(range(len(frames)))  # none lost or reordered
    assert as_binary[-1]["type"] == "audio_end"  # every frame of the turn came before its end
    assert {(f["turn_id"], f["sample_rate"]) for f in frames} == {(as_binary[-1]["turn_id"], 16000)}
    assert b"".join(f["pcm"] for f in frames) == b"".join(base64.b64decode(c["data"]) for c in chunks)
    assert [e["type"] for e in as_json if e["type"] != "audio_response"] == [
        e["type"] for e in as_binary if e["type"] != BINARY_AUDIO
    ]


async def test_unknown_audio_out_is_refused_before_the_upgrade(stack: Stack) -> None:
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(stack.gateway.base_url + "/ws/voice-chat?audio_out=ogg")
    assert refused.value.status == 400


async def test_deflate_only_when_the_setting_allows_it(stack: Stack) -> None:
    allowing = stack.add("gateway", {"VOICECHAT_WS_COMPRESSION": "true"})
    wait_http(allowing.base_url + "/readyz")
    async with aiohttp.ClientSession() as http:
        offered = await connect(http, stack.gateway.base_url, "", compress=15)
        accepted = await connect(http, allowing.base_url, "", compress=15)
        not_offered = await connect(http, allowing.base_url, "")
        assert (offered.ws.compress, accepted.ws.compress, not_offered.ws.compress) == (0, 15, 0)
        events = await answer(accepted)  # a whole turn over a compressed socket
        assert events[-1]["type"] == "audio_end"
        for client in (offered, accepted, not_offered):
            await client.close()
