"""Real speech through the gateway and the VAD worker: speech events at the true boundaries, per session."""

import asyncio

import aiohttp
import pytest

from harness.speech import frames, speech_bounds_ms, utterance
from harness.stack import Stack
from voice_client.recorder import connect

TOLERANCE_MS = 150


@pytest.mark.parametrize("rate", [16000, 48000])
async def test_speech_events_match_true_boundaries(stack: Stack, http: aiohttp.ClientSession, rate: int) -> None:
    client = await connect(http, stack.gateway.base_url, f"?sample_rate={rate}")
    assert client.start["sample_rate"] == rate and client.start["protocol"] == 1
    samples = utterance("show me running shoes under fifty dollars", rate, voice="en-us+f2", lead_ms=600)
    start_ms, end_ms = speech_bounds_ms(samples, rate)
    await client.stream(frames(samples, rate))
    started = await client.wait_for("speech_started")
    ended = await client.wait_for("speech_ended", timeout=5)
    assert abs(started["offset_ms"] - start_ms) <= TOLERANCE_MS
    assert abs(ended["offset_ms"] - end_ms) <= TOLERANCE_MS
    assert started["turn_id"] == ended["turn_id"] == 1
    await client.close()


async def test_two_sessions_never_see_each_others_events(stack: Stack, http: aiohttp.ClientSession) -> None:
    talker = await connect(http, stack.gateway.base_url)
    silent = await connect(http, stack.gateway.base_url)
    assert talker.start["session_id"] != silent.start["session_id"]
    speech = frames(utterance("hello", 16000, voice="en+m3"), 16000)
    quiet = [bytes(len(frame)) for frame in speech]
    await asyncio.gather(talker.stream(speech), silent.stream(quiet))
    await talker.wait_for("speech_ended", timeout=5)
    await asyncio.sleep(0.3)
    assert [e["type"] for e in silent.events] == ["session_start"]
    await talker.close()
    await silent.close()


async def test_text_frames_of_base64_audio_work_like_binary(stack: Stack, http: aiohttp.ClientSession) -> None:
    import base64

    client = await connect(http, stack.gateway.base_url, "?sample_rate=8000")
    for frame in frames(utterance("hello there", 8000, voice="en-029"), 8000):
        await client.send({"type": "audio_chunk", "data": base64.b64encode(frame).decode()})
        await asyncio.sleep(0.02)
    assert (await client.wait_for("speech_ended", timeout=5))["turn_id"] == 1
    await client.close()
