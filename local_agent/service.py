"""The gRPC `google.cloud.dialogflow.cx.v3.Sessions` service of the local agent: StreamingDetectIntent and
DetectIntent mapped onto a recognition engine (`Listener`), the dialogue logic (`Dialogue`) and TTS.

Interim decoding and synthesis run in a thread pool (both are CPU heavy and decoders are not thread-safe: one per
stream, touched by one task at a time); final recognition passes run in the bounded pool (local_agent/pool.py).
Handlers write with `context.write` from a single coroutine, so a client cancel lands in an `await` and the
`finally` releases the stream's decoder at once. An outage of speech on demand (local_agent/outage.py) fails
streams, new and in flight, with UNAVAILABLE. Session state is saved after every change
(local_agent/sessions.py), so a restarted agent carries on.
"""

import asyncio
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
from google.cloud import dialogflowcx_v3 as cx

from local_agent import replies, tts
from local_agent.agent import Agent
from local_agent.dialogue import Dialogue, SessionState
from local_agent.listening import Listener, Recognition
from local_agent.nlu import clean
from local_agent.outage import Outage
from local_agent.pool import RecognitionPool
from local_agent.sessions import SessionStore
from local_agent.validation import (
    RequestError,
    check_session,
    input_audio,
    invalid,
    output_rate,
    query_kind,
)
from shared.audio import StreamResampler
from shared.logs import get_logger
from shared.metrics import LOCAL_STREAMS_ACTIVE
from shared.structs import struct_to_dict

log = get_logger(__name__)
SERVICE = "google.cloud.dialogflow.cx.v3.Sessions"
Kind = cx.StreamingRecognitionResult.MessageType


class LocalSessions:
    def __init__(
        self,
        agent: Agent,
        dialogue: Dialogue,
        listener: Listener,
        pool: RecognitionPool,
        executor: ThreadPoolExecutor,
        sessions: SessionStore,
        outage: Outage,
    ) -> None:
        self.agent = agent
        self.outage = outage
        self.dialogue = dialogue
        self.listener = listener
        self.pool = pool
        self.sessions = sessions
        self.executor = executor
        self.active_streams = 0

    def handler(self) -> grpc.GenericRpcHandler:
        streaming = grpc.stream_stream_rpc_method_handler(
            self.streaming_detect_intent,
            request_deserializer=cx.StreamingDetectIntentRequest.deserialize,
            response_serializer=cx.StreamingDetectIntentResponse.serialize,
        )
        unary = grpc.unary_unary_rpc_method_handler(
            self.detect_intent,
            request_deserializer=cx.DetectIntentRequest.deserialize,
            response_serializer=cx.DetectIntentResponse.serialize,
        )
        methods = {"StreamingDetectIntent": streaming, "DetectIntent": unary}
        return grpc.method_handlers_generic_handler(SERVICE, methods)

    async def _run(self, func: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.executor, func, *args)

    async def _speak(self, text: str, rate: int) -> bytes:
        if not rate or not text:
            return b""
        return bytes(await self._run(tts.synthesize_cached, text, rate, self.agent.spec.voice))

    async def _answer_query(self, request: Any, state: SessionState, text: str, *, spoken: bool) -> Any:
        started = time.perf_counter()
        rate = output_rate(request.output_audio_config)
        outcome = self.dialogue.query(state, text)
        self.sessions.save(request.session, state)
        audio = b"" if outcome.tool else await self._speak(outcome.reply or "", rate)
        result = replies.query_result(
            outcome,
            request.session,
            text=None if spoken else text,
            transcript=text if spoken else None,
            reply=outcome.reply,
        )
        log.info("local_cx_turn", intent=outcome.match.intent, tool=outcome.tool, spoken=spoken)
        return replies.final_response(result, audio, rate, (time.perf_counter() - started) * 1000)

    async def _answer_tool(self, request: Any, state: SessionState) -> Any:
        started = time.perf_counter()
        rate = output_rate(request.output_audio_config)
        call = request.query_input.tool_call_result
        if state.pending_tool is None or call.action != state.pending_tool:
            raise RequestError(
                grpc.StatusCode.FAILED_PRECONDITION, f"no pending tool call {call.action!r} in this session"
            )
        error = call.error.message if "error" in call else None
        output = struct_to_dict(call._pb.output_parameters) if "output_parameters" in call else None
        reply = self.dialogue.tool_result(state, output, error)
        self.sessions.save(request.session, state)
        audio = await self._speak(reply, rate)
        result = replies.query_result(None, request.session, text=None, transcript=None, reply=reply)
        result.parameters = state.parameters
        return replies.final_response(result, audio, rate, (time.perf_counter() - started) * 1000)

    async def detect_intent(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            session = check_session(request.session)
            kind = query_kind(request.query_input)
            if kind == "text":
                state = self.sessions.get_or_create(session)
                return await self._answer_query(request, state, request.query_input.text.text, spoken=False)
            if kind == "tool_call_result":
                found = self.sessions.get(session)
                if found is None:
                    raise RequestError(grpc.StatusCode.FAILED_PRECONDITION, "unknown or expired session")
                return await self._answer_tool(request, found)
            raise invalid("audio queries need StreamingDetectIntent")
        except RequestError as exc:
            log.info("local_cx_rejected", code=exc.code.name, reason=exc.message)
            await context.abort(exc.code, exc.message)

    async def streaming_detect_intent(self, requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> None:
        self.active_streams += 1
        LOCAL_STREAMS_ACTIVE.inc()
        task = asyncio.current_task()
        assert task is not None
        self.outage.streams.add(task)
        try:
            await self._stream(requests, context)
        except asyncio.CancelledError:
            if not self.outage.active:
                raise  # the client cancelled
            task.uncancel()
            error = self.outage.error()
            await context.abort(error.code, error.message)
        except RequestError as exc:
            log.info("local_cx_rejected", code=exc.code.name, reason=exc.message)
            await context.abort(exc.code, exc.message)
        finally:
            self.outage.streams.discard(task)
            self.active_streams -= 1
            LOCAL_STREAMS_ACTIVE.dec()

    async def _stream(self, requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> None:
        self.outage.check()
        first = await anext(aiter(requests), None)
        if first is None:
            raise invalid("empty request stream")
        check_session(first.session)
        output_rate(first.output_audio_config)
        if query_kind(first.query_input) == "text":
            state = self.sessions.get_or_create(first.session)
            final = await self._answer_query(first, state, first.query_input.text.text, spoken=False)
            await context.write(cx.StreamingDetectIntentResponse(detect_intent_response=final))
            return
        rate, single = input_audio(first.query_input)
        transcript = await self._recognise(first, requests, context, rate, single)
        state = self.sessions.get_or_create(first.session)
        final = await self._answer_query(first, state, transcript, spoken=True)
        await context.write(cx.StreamingDetectIntentResponse(detect_intent_response=final))

    async def _recognise(
        self, first: Any, requests: AsyncIterator[Any], context: grpc.aio.ServicerContext, rate: int, single: bool
    ) -> str:
        """Stream audio into a recognition; partials, END_OF_SINGLE_UTTERANCE; return the final transcript (the
        final pass starts at the end of speech, or when the client half-closes)."""
        recognition = await self._run(self.listener.open)
        resampler = StreamResampler(rate)
        partials = bool(first.enable_partial_response)
        last = ""
        final: str | None = None
        chunk = first.query_input.audio.audio
        async for request in _chain(chunk, requests):
            if final is not None or not request:
                continue
            hypothesis = await self._run(recognition.feed, resampler.push(request))
            if partials and hypothesis and hypothesis != last:
                last = hypothesis
                await context.write(replies.recognition(Kind.TRANSCRIPT, hypothesis))
            if single and recognition.speech_ended:
                await context.write(replies.recognition(Kind.END_OF_SINGLE_UTTERANCE))
                final = await self._final(recognition, context)
        if final is None:
            await self._run(recognition.feed, resampler.flush())
            final = await self._final(recognition, context)
        return final

    async def _final(self, recognition: Recognition, context: grpc.aio.ServicerContext) -> str:
        heard = await self.pool.run(recognition.finish)
        text = clean(heard.text, self.agent.lexicon)
        await context.write(replies.recognition(Kind.TRANSCRIPT, text, final=True, confidence=heard.confidence))
        return text


async def _chain(first_chunk: bytes, requests: AsyncIterator[Any]) -> AsyncIterator[bytes]:
    yield first_chunk
    async for request in requests:
        yield request.query_input.audio.audio
