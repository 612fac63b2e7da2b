"""Invalid requests get the right gRPC status; a cancelled stream frees its decoder on the server."""

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from google.api_core import exceptions
from google.cloud import dialogflowcx_v3 as cx

from harness.speech import chunks, speech_pcm
from local_agent.server import LocalCxServer
from tests.local_agent.cx import AGENT, first_request, text_query, tool_result


async def _stream(client: Any, requests: list[Any]) -> list[Any]:
    async def gen() -> AsyncIterator[Any]:
        for request in requests:
            yield request

    return [response async for response in await client.streaming_detect_intent(requests=gen())]


async def test_unsupported_encoding_is_invalid_argument(client: Any, session: str) -> None:
    request = first_request(session)
    request.query_input.audio.config.audio_encoding = cx.AudioEncoding.AUDIO_ENCODING_FLAC
    with pytest.raises(exceptions.InvalidArgument, match="unsupported audio encoding"):
        await _stream(client, [request])


async def test_unsupported_output_encoding_is_invalid_argument(client: Any, session: str) -> None:
    request = first_request(session)
    request.output_audio_config.audio_encoding = cx.OutputAudioEncoding.OUTPUT_AUDIO_ENCODING_MP3
    with pytest.raises(exceptions.InvalidArgument, match="output audio encoding"):
        await _stream(client, [request])


async def test_missing_audio_config_is_invalid_argument(client: Any, session: str) -> None:
    request = cx.StreamingDetectIntentRequest(
        session=session, query_input=cx.QueryInput(audio=cx.AudioInput(audio=b"\0\0"), language_code="en")
    )
    with pytest.raises(exceptions.InvalidArgument, match="config"):
        await _stream(client, [request])


async def test_bad_session_is_invalid_argument(client: Any) -> None:
    with pytest.raises(exceptions.InvalidArgument, match="session"):
        await text_query(client, "sessions/nope", "hello")
    with pytest.raises(exceptions.InvalidArgument, match="session"):
        await _stream(client, [first_request("projects/x/agents/y")])


async def test_tool_result_for_unknown_session_is_failed_precondition(client: Any) -> None:
    with pytest.raises(exceptions.FailedPrecondition):
        await tool_result(client, f"{AGENT}/sessions/never-seen", "search_products", {"products": [], "total": 0})


async def test_tool_result_without_pending_call_is_failed_precondition(client: Any, session: str) -> None:
    await text_query(client, session, "hello")
    with pytest.raises(exceptions.FailedPrecondition):
        await tool_result(client, session, "get_product", {"id": 1})


async def test_cancel_mid_stream_releases_the_server_side(client: Any, local_cx: LocalCxServer, session: str) -> None:
    sent = asyncio.Event()
    audio = chunks(speech_pcm("show me running shoes under fifty dollars"))

    async def requests() -> AsyncIterator[Any]:
        yield first_request(session, single=False)
        for index, chunk in enumerate(audio):
            yield cx.StreamingDetectIntentRequest(query_input=cx.QueryInput(audio=cx.AudioInput(audio=chunk)))
            if index == len(audio) // 2:
                sent.set()
        await asyncio.Event().wait()  # never half-close: only the cancel ends this call

    call = await client.streaming_detect_intent(requests=requests())
    reader = asyncio.create_task(_drain(call))
    await sent.wait()
    await _until(lambda: local_cx.service.active_streams == 1)
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader
    await _until(lambda: local_cx.service.active_streams == 0)


async def _drain(call: Any) -> list[Any]:
    return [response async for response in call]


async def _until(predicate: Callable[[], bool], attempts: int = 500) -> None:
    for _ in range(attempts):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")
