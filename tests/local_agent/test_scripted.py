"""Scripted fast mode: no ASR, an interim first word, a fixed search_products turn, cached answer audio."""

from collections.abc import AsyncIterator
from typing import Any

from google.cloud import dialogflowcx_v3 as cx

from harness.speech import chunks, speech_pcm
from local_agent.server import LocalCxServer
from tests.local_agent.cx import first_request, intent_of, text_query, texts, tool_calls, tool_result


async def test_scripted_turn_and_tool_answer(scripted_client: Any, scripted_cx: LocalCxServer, session: str) -> None:
    async def requests() -> AsyncIterator[Any]:
        yield first_request(session, single=True)
        for chunk in chunks(speech_pcm("anything at all", voice="en-029")):
            yield cx.StreamingDetectIntentRequest(query_input=cx.QueryInput(audio=cx.AudioInput(audio=chunk)))

    responses = [r async for r in await scripted_client.streaming_detect_intent(requests=requests())]
    kinds = [r.recognition_result.message_type.name for r in responses if "recognition_result" in r]
    assert "END_OF_SINGLE_UTTERANCE" not in kinds
    interim = [r.recognition_result.transcript for r in responses if "recognition_result" in r]
    assert interim == ["show", "show me shoes"]  # a first word heard while streaming, as a recogniser reports one
    final = responses[-1].detect_intent_response
    assert intent_of(final) == "search_products"
    assert dict(tool_calls(final)[0].input_parameters) == {"query": "shoes", "limit": 5}
    first = await tool_result(scripted_client, session, "search_products", {"products": [], "total": 0})
    assert 1.0 <= len(first.output_audio) / 32000 <= 6.0
    await text_query(scripted_client, session, "hello")
    second = await tool_result(scripted_client, session, "search_products", {"products": [], "total": 0})
    assert second.output_audio == first.output_audio and texts(second) == texts(first)
    assert scripted_cx.service.active_streams == 0
