"""The outage of speech on demand (local_agent/outage.py): streams in flight fail UNAVAILABLE at their next request,
new ones are refused, DetectIntent is served, and streams work again once it ends."""

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from google.api_core import exceptions
from google.cloud import dialogflowcx_v3 as cx

from harness.speech import chunks, speech_pcm
from local_agent.server import LocalCxServer
from tests.local_agent.cx import first_request, intent_of, text_query


async def _stream(
    client: Any, session: str, pause_at: int = -1, during: Callable[[], None] = lambda: None
) -> list[Any]:
    """A scripted turn. Before chunk `pause_at` it calls `during()` and writes nothing for a second: a write racing
    the agent's status turns it into INTERNAL on the client (grpc/grpc#36066)."""

    async def requests() -> AsyncIterator[Any]:
        yield first_request(session, single=True)
        for index, chunk in enumerate(chunks(speech_pcm("anything at all"))):
            if index == pause_at:
                during()
                await asyncio.sleep(1.0)
            yield cx.StreamingDetectIntentRequest(query_input=cx.QueryInput(audio=cx.AudioInput(audio=chunk)))

    return [r async for r in await client.streaming_detect_intent(requests=requests())]


async def test_streams_fail_unavailable_during_an_outage(
    scripted_client: Any, scripted_cx: LocalCxServer, session: str
) -> None:
    outage = scripted_cx.service.outage
    with pytest.raises(exceptions.ServiceUnavailable):
        await _stream(scripted_client, session, pause_at=1, during=outage.begin)  # in flight
    with pytest.raises(exceptions.ServiceUnavailable):
        await _stream(scripted_client, session, pause_at=0)  # a new one
    assert intent_of(await text_query(scripted_client, session, "hello")) == "search_products"  # DetectIntent served
    outage.end()
    responses = await _stream(scripted_client, session)
    assert intent_of(responses[-1].detect_intent_response) == "search_products"
    assert scripted_cx.service.active_streams == 0
