"""A CX client driver for the tests: one streamed turn as the dialog worker does it, and a text query."""

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from google.cloud import dialogflowcx_v3 as cx

from harness.speech import chunks

AGENT = "projects/local/locations/global/agents/marketplace"
Kind = cx.StreamingRecognitionResult.MessageType


def out_config(rate: int = 16000) -> Any:
    return cx.OutputAudioConfig(
        audio_encoding=cx.OutputAudioEncoding.OUTPUT_AUDIO_ENCODING_LINEAR_16, sample_rate_hertz=rate
    )


def first_request(
    session: str, single: bool = True, partial: bool = True, out_rate: int = 16000, rate: int = 16000
) -> Any:
    config = cx.InputAudioConfig(
        audio_encoding=cx.AudioEncoding.AUDIO_ENCODING_LINEAR_16, sample_rate_hertz=rate, single_utterance=single
    )
    return cx.StreamingDetectIntentRequest(
        session=session,
        query_input=cx.QueryInput(audio=cx.AudioInput(config=config), language_code="en"),
        output_audio_config=out_config(out_rate),
        enable_partial_response=partial,
    )


@dataclass
class Turn:
    partials: list[str] = field(default_factory=list)
    finals: list[str] = field(default_factory=list)
    end_of_utterance: bool = False
    final: Any = None
    kinds: list[str] = field(default_factory=list)


async def stream_turn(
    client: Any, session: str, pcm: bytes, single: bool = True, partial: bool = True, rate: int = 16000
) -> Turn:
    """Stream `pcm` (declared at `rate`) in chunks; with single_utterance, half-close only on
    END_OF_SINGLE_UTTERANCE."""
    turn = Turn()
    stop = asyncio.Event()

    async def requests() -> AsyncIterator[Any]:
        yield first_request(session, single, partial, rate=rate)
        for chunk in chunks(pcm):
            if stop.is_set():
                return
            yield cx.StreamingDetectIntentRequest(query_input=cx.QueryInput(audio=cx.AudioInput(audio=chunk)))
        if single:
            await stop.wait()

    async for response in await client.streaming_detect_intent(requests=requests()):
        if "recognition_result" in response:
            result = response.recognition_result
            turn.kinds.append(result.message_type.name)
            if result.message_type == Kind.END_OF_SINGLE_UTTERANCE:
                turn.end_of_utterance = True
                stop.set()
            elif result.is_final:
                turn.finals.append(result.transcript)
            else:
                turn.partials.append(result.transcript)
        if "detect_intent_response" in response:
            turn.final = response.detect_intent_response
            stop.set()
    return turn


async def text_query(client: Any, session: str, text: str, rate: int = 16000) -> Any:
    request = cx.DetectIntentRequest(
        session=session,
        query_input=cx.QueryInput(text=cx.TextInput(text=text), language_code="en"),
        output_audio_config=out_config(rate),
    )
    return await client.detect_intent(request=request)


async def tool_result(client: Any, session: str, action: str, output: dict[str, Any] | None, error: str = "") -> Any:
    result = cx.ToolCallResult(tool=f"{AGENT}/tools/{action}", action=action)
    if error:
        result.error = cx.ToolCallResult.Error(message=error)
    else:
        result.output_parameters = output
    request = cx.DetectIntentRequest(
        session=session,
        query_input=cx.QueryInput(tool_call_result=result, language_code="en"),
        output_audio_config=out_config(),
    )
    return await client.detect_intent(request=request)


def intent_of(response: Any) -> str:
    return str(response.query_result.match.intent.display_name)


def tool_calls(response: Any) -> list[Any]:
    return [m.tool_call for m in response.query_result.response_messages if "tool_call" in m]


def texts(response: Any) -> str:
    return " ".join(t for m in response.query_result.response_messages if "text" in m for t in m.text.text)
