"""The conversation log and the traces through the whole stack (real nats-server with JetStream, every service
as a process, real speech): a typed turn, a spoken turn, a barge-in and a failed tool call in one session; then the
history endpoint returns exactly those facts, the CLI report counts them, erasure removes them, and the test's
OTLP receiver got one trace per turn with the spans of every service that took part."""

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from harness.otlp import OtlpReceiver, ReceivedSpan
from harness.procs import wait_http
from harness.speech import frames, utterance
from harness.stack import FULL_STACK, Stack, running_stack
from tests.convlog.test_cli import convlog
from voice_client.recorder import VoiceClient, connect

TRACED = {"OTEL_BSP_SCHEDULE_DELAY": "200", "VOICECHAT_CONVLOG_REDACT_DIGITS": "true"}


@dataclass
class Traced:
    stack: Stack
    otlp: OtlpReceiver


@pytest.fixture(scope="module")
def traced() -> Iterator[Traced]:
    with (
        OtlpReceiver() as otlp,
        running_stack(FULL_STACK, {**TRACED, "OTEL_EXPORTER_OTLP_ENDPOINT": otlp.endpoint}) as stack,
    ):
        wait_http(stack.gateway.base_url + "/readyz")
        yield Traced(stack, otlp)


def of_turn(client: VoiceClient, turn_id: int, kind: str) -> list[dict[str, Any]]:
    return [e for e in client.events if e.get("turn_id") == turn_id and e["type"] == kind]


async def until_over(client: VoiceClient, turn_id: int) -> dict[str, Any]:
    return await client.wait_for(
        lambda e: e.get("turn_id") == turn_id and e["type"] in ("audio_end", "interrupted"), timeout=30
    )


async def four_turns(client: VoiceClient) -> None:
    """1 typed search, 2 spoken greeting, 3 typed and barged in, 4 a product that does not exist (tool error)."""
    await client.send({"type": "text_input", "text": "show me some sunglasses under 30 dollars"})
    assert (await until_over(client, 1))["type"] == "audio_end"
    await client.stream(frames(utterance("hello what can you do", 16000, "en+klatt"), 16000))
    assert (await until_over(client, 2))["type"] == "audio_end"
    await client.send({"type": "text_input", "text": "show me running shoes"})
    await client.wait_for(lambda e: e["type"] == "audio_response" and e["turn_id"] == 3, timeout=20)
    await client.send({"type": "barge_in"})
    assert (await until_over(client, 3))["type"] == "interrupted"
    await client.send({"type": "text_input", "text": "tell me about product 999"})
    assert (await until_over(client, 4))["type"] == "audio_end"


async def history(http: aiohttp.ClientSession, base: str, session_id: str) -> tuple[int, dict[str, Any]]:
    for _ in range(50):  # the dialog worker writes a turn right after its last event: allow it a moment
        async with http.get(f"{base}/sessions/{session_id}/history") as response:
            body = await response.json() if response.status == 200 else {}
            if response.status == 200 and len(body["turns"]) == 4 and body["ended_at"]:
                return response.status, body
        await asyncio.sleep(0.1)
    return response.status, body


def expected_facts(client: VoiceClient) -> list[dict[str, Any]]:
    """What the client saw of each turn, in the log's terms."""
    facts = []
    for turn_id in (1, 2, 3, 4):
        finals = [e["text"] for e in of_turn(client, turn_id, "transcript") if e["is_final"]]
        intents = of_turn(client, turn_id, "intent")
        answers = of_turn(client, turn_id, "response_text")
        facts.append(
            {
                "turn_id": turn_id,
                "input": "speech" if turn_id == 2 else "text",
                "transcript": finals[-1],
                "intent": intents[0]["name"] if intents else None,
                "answer": answers[0]["text"] if answers else "",
                "outcome": "interrupted" if turn_id == 3 else "answered",
            }
        )
    return facts


async def test_history_report_erasure_and_traces(traced: Traced) -> None:
    base = traced.stack.gateway.base_url
    async with aiohttp.ClientSession() as http:
        client = await connect(http, base)
        session_id = client.start["session_id"]
        await four_turns(client)
        await client.send({"type": "end_session"})
        await client.close()

        status, body = await history(http, base, session_id)
        assert status == 200
        turns = body["turns"]
        assert [{k: t.get(k) for k in expected_facts(client)[0]} for t in turns] == expected_facts(client)
        search = of_turn(client, 1, "tool_result")[0]["output"]
        (call,) = turns[0]["tool_calls"]
        assert call["tool"] == "search_products" and call["arguments"]["max_price"] == 30
        assert call["product_ids"] == [p["id"] for p in search["products"]] and call["total"] == search["total"]
        assert turns[0]["parameters"]["max_price"] == 30
        assert turns[2]["interrupted_by"] == "barge_in"
        assert turns[3]["tool_calls"] == [
            {"tool": "get_product", "arguments": {"product_id": 999}, "error": "not_found"}
        ]
        assert turns[3]["error_code"] == "tool_failed" and "error_code" not in turns[0]
        assert {"recognition", "tool_call", "agent_after_tool", "first_audio"} <= set(turns[0]["stages_ms"])
        assert {"end_of_input", "recognition", "first_audio"} <= set(turns[1]["stages_ms"])

        report = await asyncio.to_thread(convlog, traced.stack.nats, "report", "--since", "1h", "--json")
        counted = json.loads(report.stdout)
        assert counted["turns"] == 4 and counted["outcomes"] == {"answered": 3, "interrupted": 1}
        assert counted["interruption_rate"] == 0.25
        assert counted["intents"]["search_products"] == 2 and counted["intents"]["greeting"] == 1

        async with http.delete(f"{base}/sessions/{session_id}/history") as response:
            assert response.status == 204
        async with http.get(f"{base}/sessions/{session_id}/history") as response:
            assert response.status == 404
        export = await asyncio.to_thread(convlog, traced.stack.nats, "export", "--since", "1h")
        assert session_id not in export.stdout

    spans = traced.otlp.wait_for(lambda found: _turn_traces_complete(found), timeout=30)
    traces = _turn_traces(spans)
    assert sorted(traces) == [1, 2, 3, 4]
    services = {turn: {s.service for s in found} for turn, found in traces.items()}
    assert services[1] == {"gateway", "dialog_worker", "tools_worker"}
    assert services[2] == {"gateway", "vad_worker", "dialog_worker"}
    names = {turn: {s.name for s in found} for turn, found in traces.items()}
    assert {"gateway receive", "dialog turn", "recognition", "tool call", "tools search_products"} <= names[1]
    assert {"agent after tool", "first audio", "gateway send"} <= names[1]
    assert {"vad speech", "vad start", "vad end", "gateway receive", "end of input", "gateway send"} <= names[2]
    assert {"cx stream", "recognition", "first audio"} <= names[2]
    assert {"tools get_product"} <= names[4]


def _turn_traces(spans: list[ReceivedSpan]) -> dict[int, list[ReceivedSpan]]:
    """Each dialog turn's whole trace, by turn id; a trace holding two turns would fail the count."""
    turns = [s for s in spans if s.name == "dialog turn"]
    by_trace = {s.trace_id: int(str(s.attributes["turn_id"])) for s in turns}
    assert len(by_trace) == len(turns), "two turns share a trace"
    return {turn: [s for s in spans if s.trace_id == trace] for trace, turn in by_trace.items()}


def _turn_traces_complete(spans: list[ReceivedSpan]) -> bool:
    traces = _turn_traces(spans)
    return len(traces) == 4 and all(any(s.name == "gateway send" for s in found) for found in traces.values())
