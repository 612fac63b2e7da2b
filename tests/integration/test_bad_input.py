"""Every bad client input gets a clear error, leaves its session working and never reaches another session."""

import base64

import aiohttp
import pytest

from harness.speech import frames, utterance
from harness.stack import Stack
from voice_client.recorder import VoiceClient, connect

BAD_TEXT = [
    ("{not json", "invalid_message"),
    ('{"type": "teleport"}', "invalid_message"),
    ('{"type": "text_input"}', "invalid_message"),
    ('{"type": "ping", "extra": true}', "invalid_message"),
    ('{"type": "text_input", "text": 42}', "invalid_message"),
    ('{"type": "audio_chunk", "data": "%%%not-base64"}', "invalid_message"),
    ('{"type": "audio_chunk", "data": "' + base64.b64encode(b"\x01\x02\x03").decode() + '"}', "unsupported_audio"),
    ("[]", "invalid_message"),
]


async def still_works(client: VoiceClient) -> None:
    pongs = len(client.of_type("pong"))
    await client.send({"type": "ping"})
    await client.wait_for(lambda e: e["type"] == "pong" and len(client.of_type("pong")) > pongs)


@pytest.mark.parametrize(("raw", "code"), BAD_TEXT)
async def test_bad_text_frames_get_an_error_and_the_session_lives(
    stack: Stack, http: aiohttp.ClientSession, raw: str, code: str
) -> None:
    client = await connect(http, stack.gateway.base_url)
    bystander = await connect(http, stack.gateway.base_url)
    await client.ws.send_str(raw)
    error = await client.wait_for("error")
    assert error["code"] == code and error["fatal"] is False and error["message"]
    await still_works(client)
    await still_works(bystander)
    assert bystander.of_type("error") == []
    await client.close()
    await bystander.close()


async def test_odd_length_binary_pcm_is_unsupported_audio(stack: Stack, http: aiohttp.ClientSession) -> None:
    client = await connect(http, stack.gateway.base_url)
    await client.ws.send_bytes(b"\x00\x01\x02")
    assert (await client.wait_for("error"))["code"] == "unsupported_audio"
    await still_works(client)
    await client.close()


async def test_frame_over_64_kib_closes_with_1009(stack: Stack, http: aiohttp.ClientSession) -> None:
    client = await connect(http, stack.gateway.base_url)
    await client.ws.send_bytes(bytes(64 * 1024 + 2))
    await client._reader
    assert client.ws.close_code == 1009
    other = await connect(http, stack.gateway.base_url)
    await still_works(other)
    await other.close()


@pytest.mark.parametrize(
    "query",
    ["?sample_rate=22050", "?sample_rate=abc", "?sample_rate=%C2%B2", "?language=en_US;drop", "?language=en-US%0A"],
)
async def test_bad_connect_parameters_get_http_400(stack: Stack, http: aiohttp.ClientSession, query: str) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(f"{stack.gateway.base_url}/ws/voice-chat{query}")
    assert refused.value.status == 400


async def test_bad_resume_token_is_session_not_found(stack: Stack, http: aiohttp.ClientSession) -> None:
    client = await connect(http, stack.gateway.base_url, wait_start=False, resume="Zm9yZ2Vk.Zm9yZ2Vk")
    error = await client.wait_for("error")
    assert error["code"] == "session_not_found" and error["fatal"] is True
    await client._reader
    assert client.ws.close_code == 1008


async def test_audio_sent_before_session_start_is_held_not_dropped(stack: Stack, http: aiohttp.ClientSession) -> None:
    client = await connect(http, stack.gateway.base_url, wait_start=False)
    speech = frames(utterance("hello there", 16000, voice="en+m3", lead_ms=200), 16000)
    for frame in speech[:60]:  # 1.2 s at once, before the session can be ready
        await client.ws.send_bytes(frame)
    await client.stream(speech[60:])
    await client.wait_for("session_start")
    started = await client.wait_for("speech_started", timeout=5)
    assert started["offset_ms"] <= 400
    await client.close()


async def test_services_survived_everything(stack: Stack, http: aiohttp.ClientSession) -> None:
    assert all(service.proc is not None and service.proc.poll() is None for service in stack.services)
    async with http.get(stack.gateway.base_url + "/readyz") as response:
        assert response.status == 200
