"""Full voice turns through the gateway: real speech, the local CX agent, tools, paced audio, barge-in."""

import asyncio
import base64
import re
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from harness.procs import wait_http
from harness.speech import frames, utterance
from harness.stack import FULL_STACK, Stack, running_stack
from voice_client.recorder import VoiceClient, connect

# (utterance, voice, intent, a word every returned product title or category should relate to)
REQUESTS = [
    ("show me running shoes under fifty dollars", "en-us+f2", "search_products", "shoes"),
    ("do you have any sunglasses", "en-gb-x-rp", "search_products", "sunglasses"),
    ("show me laptops under two thousand dollars", "en+klatt", "search_products", "laptop"),
    ("do you have any perfumes", "en-us+f2", "search_products", "fragrances"),
    ("tell me about product twelve", "en-gb-x-rp", "product_details", None),
    ("hello what can you do", "en+klatt", "greeting", None),
    ("thank you goodbye", "en-us+f2", "goodbye", None),
]


@pytest.fixture(scope="module")
def full_stack() -> Iterator[Stack]:
    with running_stack(FULL_STACK) as stack:
        wait_http(stack.gateway.base_url + "/readyz")
        yield stack


def turn_events(client: VoiceClient, turn_id: int) -> list[dict[str, Any]]:
    return [e for e in client.events if e.get("turn_id") == turn_id]


def audio_seconds(client: VoiceClient, turn_id: int) -> float:
    chunks = [e for e in turn_events(client, turn_id) if e["type"] == "audio_response"]
    return float(sum(len(base64.b64decode(e["data"])) / 2 / e["sample_rate"] for e in chunks))


async def one_request(http: aiohttp.ClientSession, base: str, request: tuple[str, str, str, str | None]) -> bool:
    """Speak one request in its own session; True when the agent got it right (intent, and products on topic)."""
    text, voice, expected, topic = request
    client = await connect(http, base)
    await client.stream(frames(utterance(text, 16000, voice), 16000))
    done = await client.wait_for(lambda e: e["type"] in ("audio_end", "error"), timeout=60)
    assert done["type"] == "audio_end", done
    intent = await client.wait_for("intent")
    assert (await client.wait_for("response_text"))["text"]
    assert audio_seconds(client, done["turn_id"]) >= 0.5
    right = bool(intent["name"] == expected)
    if right and topic is not None:
        output = (await client.wait_for("tool_result"))["output"]
        assert {"id", "title", "price", "category", "thumbnail"} <= set(output["products"][0])
        first = output["products"][0]
        right = bool(output["total"] >= 1 and topic in f"{first['title']} {first['category']}".lower())
    await client.close()
    return right


async def test_spoken_marketplace_requests(full_stack: Stack, http: aiohttp.ClientSession) -> None:
    """Speech recognition is statistical: at least five of the seven requests must be understood end to end."""
    base = full_stack.gateway.base_url
    results = await asyncio.gather(*(one_request(http, base, request) for request in REQUESTS))
    assert sum(results) >= 5, list(zip(REQUESTS, results, strict=True))


async def test_product_details_by_spoken_number(full_stack: Stack, http: aiohttp.ClientSession) -> None:
    client = await connect(http, full_stack.gateway.base_url)
    await client.stream(frames(utterance("how much is product three", 16000, "en+klatt"), 16000))
    intent = await client.wait_for("intent", timeout=15)
    assert intent["name"] == "product_details" and intent["parameters"]["product_id"] == 3
    result = await client.wait_for("tool_result")
    assert result["tool"] == "get_product" and result["output"]["product"]["id"] == 3
    assert result["output"]["product"]["title"].split()[0] in (await client.wait_for("response_text"))["text"]
    await client.wait_for("audio_end", timeout=20)
    await client.close()


async def test_text_input_turn(full_stack: Stack, http: aiohttp.ClientSession) -> None:
    client = await connect(http, full_stack.gateway.base_url)
    await client.send({"type": "text_input", "text": "show me some sunglasses under 30 dollars"})
    intent = await client.wait_for("intent")
    assert intent["name"] == "search_products" and intent["parameters"]["max_price"] == 30
    output = (await client.wait_for("tool_result"))["output"]
    assert all(p["price"] <= 30 for p in output["products"])
    await client.wait_for("audio_end", timeout=20)
    await client.close()


def samples(metrics: str, name: str) -> dict[str, float]:
    """The labelled samples of metric `name` in a /metrics text."""
    found = re.findall(rf"^{name}(\{{[^}}]*\}}) (\S+)$", metrics, re.M)
    return {labels: float(value) for labels, value in found}


async def test_tool_metrics_mean_one_thing_each(full_stack: Stack, http: aiohttp.ClientSession) -> None:
    """The dialog worker times the round trip of its tool calls, the tools worker its handling: separate names."""
    client = await connect(http, full_stack.gateway.base_url)
    await client.send({"type": "text_input", "text": "do you have any sunglasses"})
    await client.wait_for("tool_result", timeout=15)
    await client.close()
    scraped = {}
    for module in ("dialog_worker", "tools_worker"):
        service = next(s for s in full_stack.services if s.module == module)
        async with http.get(service.base_url + "/metrics") as response:
            scraped[module] = await response.text()
    searches = '{tool="search_products"}'
    assert samples(scraped["dialog_worker"], "voicechat_tool_call_seconds_count")[searches] >= 1
    assert samples(scraped["dialog_worker"], "voicechat_tool_calls_total")['{outcome="ok",tool="search_products"}'] >= 1
    assert samples(scraped["dialog_worker"], "voicechat_tool_latency_seconds_count") == {}
    assert samples(scraped["tools_worker"], "voicechat_tool_latency_seconds_count")[searches] >= 1
    assert samples(scraped["tools_worker"], "voicechat_tool_call_seconds_count") == {}


def assert_silent_after_interrupt(client: VoiceClient, turn_id: int) -> None:
    index = next(i for i, e in enumerate(client.events) if e["type"] == "interrupted" and e["turn_id"] == turn_id)
    assert [e for e in client.events[index + 1 :] if e.get("turn_id") == turn_id] == []


async def test_barge_in_by_message_stops_the_turn(full_stack: Stack, http: aiohttp.ClientSession) -> None:
    client = await connect(http, full_stack.gateway.base_url)
    await client.send({"type": "text_input", "text": "show me running shoes"})
    await client.wait_for("audio_response", timeout=15)
    await client.send({"type": "barge_in"})
    interrupted = await client.wait_for("interrupted")
    assert interrupted["turn_id"] == 1
    await client.send({"type": "text_input", "text": "tell me about product five"})
    await client.wait_for(lambda e: e["type"] == "audio_end" and e["turn_id"] == 2, timeout=20)
    await asyncio.sleep(0.5)
    assert_silent_after_interrupt(client, 1)
    assert not any(e["type"] == "audio_end" and e["turn_id"] == 1 for e in client.events)
    await client.close()


async def test_barge_in_by_speech_during_bot_audio(full_stack: Stack, http: aiohttp.ClientSession) -> None:
    client = await connect(http, full_stack.gateway.base_url)
    await client.send({"type": "text_input", "text": "show me running shoes"})
    await client.wait_for("audio_response", timeout=15)
    await asyncio.sleep(0.5)  # past the echo guard
    await client.stream(frames(utterance("hello what can you do", 16000, "en+klatt", lead_ms=100), 16000))
    interrupted = await client.wait_for("interrupted")
    assert interrupted["turn_id"] == 1
    started = await client.wait_for(lambda e: e["type"] == "speech_started" and e["turn_id"] == 2)
    assert client.events.index(started) > client.events.index(interrupted)
    intent = await client.wait_for(lambda e: e["type"] == "intent" and e["turn_id"] == 2, timeout=15)
    assert intent["name"] == "greeting"
    await client.wait_for(lambda e: e["type"] == "audio_end" and e["turn_id"] == 2, timeout=20)
    assert_silent_after_interrupt(client, 1)
    await client.close()


async def test_client_controls_end_the_turn(full_stack: Stack, http: aiohttp.ClientSession) -> None:
    """Push-to-talk: start_speaking / stop_speaking bracket the utterance instead of the VAD."""
    client = await connect(http, full_stack.gateway.base_url)
    speech = frames(utterance("hello what can you do", 16000, "en-gb-x-rp", lead_ms=100, tail_ms=100), 16000)
    await client.send({"type": "start_speaking"})
    await client.stream(speech)
    await client.send({"type": "stop_speaking"})
    ended = await client.wait_for("speech_ended", timeout=5)
    assert ended["turn_id"] == 1
    assert (await client.wait_for("intent", timeout=15))["turn_id"] == 1
    await client.wait_for("audio_end", timeout=20)
    await client.close()
