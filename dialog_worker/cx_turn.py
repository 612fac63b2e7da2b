"""One turn against Dialogflow CX: stream the utterance (or send the text), run tool calls, speak the answer."""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from google.api_core.exceptions import GoogleAPICallError
from google.cloud import dialogflowcx_v3 as cx
from nats.aio.client import Client as NATS

from dialog_worker.pacing import play
from dialog_worker.session import DialogSession
from shared.audio import FRAME_MS, INTERNAL_RATE, wav_payload
from shared.logs import get_logger
from shared.metrics import AGENT_PROCESSING, DIALOGFLOW_REQUESTS, TOOL_LATENCY, TOOL_REQUESTS, TURN_LATENCY, TURNS
from shared.protocol import AudioEnd, Error, ErrorCode, Intent, ResponseText, ToolResult, Transcript
from shared.settings import DialogSettings
from shared.structs import dict_to_struct, struct_to_dict
from shared.tools.client import call_tool
from shared.tools.errors import ToolError

log = get_logger(__name__)
AGENT_TIME_KEY = "local_agent_processing_ms"
RETRY_BACKOFF_S = 0.5
BATCH_FRAMES = 5
_RAW_REQUEST = cx.StreamingDetectIntentRequest.pb()
_RETRYABLE = {"UNAVAILABLE", "DEADLINE_EXCEEDED"}
_MessageType = cx.StreamingRecognitionResult.MessageType


@dataclass(frozen=True)
class CxDeps:
    client: cx.SessionsAsyncClient
    nc: NATS
    settings: DialogSettings
    session_path: str

    def output_config(self) -> cx.OutputAudioConfig:
        return cx.OutputAudioConfig(
            audio_encoding=cx.OutputAudioEncoding.OUTPUT_AUDIO_ENCODING_LINEAR_16,
            sample_rate_hertz=self.settings.output_sample_rate,
        )


def _observe_agent_time(response: cx.DetectIntentResponse) -> None:
    info = struct_to_dict(response.query_result._pb.diagnostic_info)
    value = info.get(AGENT_TIME_KEY)
    if isinstance(value, int | float):
        AGENT_PROCESSING.observe(value / 1000)


def _unreachable(exc: GoogleAPICallError) -> bool:
    """The agent cannot be reached at all (down, refused), as opposed to a call that failed or timed out."""
    return _status(exc) == "UNAVAILABLE" and "failed to connect" in str(exc.message).lower()


def _status(exc: GoogleAPICallError) -> str:
    code = exc.grpc_status_code
    return code.name if code is not None else "UNKNOWN"


class CxTurn:
    def __init__(
        self, deps: CxDeps, session: DialogSession, turn_id: int, preroll: list[bytes] | None, text: str | None
    ):
        self.deps = deps
        self.session = session
        self.turn_id = turn_id
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._sent: list[bytes] = list(preroll or [])
        self._closed = False
        self._ended_at: float | None = None
        self._max_frames = int(deps.settings.max_turn_speech_s * 1000 / FRAME_MS)
        self._task = asyncio.create_task(self._run(text))

    def feed(self, pcm: bytes) -> None:
        if not self._closed:
            self._queue.put_nowait(pcm)

    def end_input(self) -> None:
        if not self._closed:
            self._closed = True
            self._ended_at = time.perf_counter()
            self._queue.put_nowait(None)

    def cancel(self) -> None:
        self._task.cancel()

    async def wait(self, grace_s: float) -> None:
        """Until the turn is over, or `grace_s` passed (then it is cancelled)."""
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(self._task), grace_s)
        self._task.cancel()

    async def _run(self, text: str | None) -> None:
        outcome = "failed"
        try:
            response = await (self._detect_text(text) if text is not None else self._stream_with_retry())
            if response is not None:
                outcome = await self._answer(response)
        except asyncio.CancelledError:
            outcome = "interrupted"
            raise
        except GoogleAPICallError as exc:
            code: ErrorCode = "dialog_unavailable" if _unreachable(exc) else "turn_failed"
            log.warning("turn_failed", status=_status(exc), error=str(exc.message))
            await self.session.emit(
                self.turn_id, Error(code=code, message="the dialog agent failed", turn_id=self.turn_id, fatal=False)
            )
        finally:
            TURNS.labels(outcome).inc()
            self.session.turn_done(self.turn_id)

    async def _detect_text(self, text: str) -> cx.DetectIntentResponse:
        self._closed = True
        self._ended_at = time.perf_counter()
        await self.session.emit(self.turn_id, Transcript(turn_id=self.turn_id, text=text, is_final=True))
        query = cx.QueryInput(text=cx.TextInput(text=text), language_code=self.session.language)
        return await self._detect(query)

    async def _detect(self, query: cx.QueryInput) -> cx.DetectIntentResponse:
        request = cx.DetectIntentRequest(
            session=self.deps.session_path, query_input=query, output_audio_config=self.deps.output_config()
        )
        for attempt in range(2):
            try:
                response = await self.deps.client.detect_intent(request=request, timeout=30, retry=None)
                DIALOGFLOW_REQUESTS.labels("OK").inc()
                _observe_agent_time(response)
                return response
            except GoogleAPICallError as exc:
                DIALOGFLOW_REQUESTS.labels(_status(exc)).inc()
                if attempt or _status(exc) not in _RETRYABLE:
                    raise
                await asyncio.sleep(RETRY_BACKOFF_S)
        raise AssertionError("unreachable")

    async def _stream_with_retry(self) -> cx.DetectIntentResponse | None:
        for attempt in range(2):
            answered: list[bool] = [False]
            try:
                result = await self._stream(answered)
                DIALOGFLOW_REQUESTS.labels("OK").inc()
                if result is not None:
                    _observe_agent_time(result)
                return result
            except GoogleAPICallError as exc:
                DIALOGFLOW_REQUESTS.labels(_status(exc)).inc()
                if attempt or answered[0] or _status(exc) not in _RETRYABLE:
                    raise
                await asyncio.sleep(RETRY_BACKOFF_S)
        return None

    async def _requests(self) -> AsyncIterator[Any]:
        audio_config = cx.InputAudioConfig(
            audio_encoding=cx.AudioEncoding.AUDIO_ENCODING_LINEAR_16,
            sample_rate_hertz=INTERNAL_RATE,
            single_utterance=True,
        )
        yield cx.StreamingDetectIntentRequest(
            session=self.deps.session_path,
            query_input=cx.QueryInput(audio=cx.AudioInput(config=audio_config), language_code=self.session.language),
            output_audio_config=self.deps.output_config(),
            enable_partial_response=True,
        )
        for start in range(0, len(self._sent), BATCH_FRAMES):
            yield self._audio_request(b"".join(self._sent[start : start + BATCH_FRAMES]))
        while len(self._sent) < self._max_frames:
            batch, more = await self._next_batch()
            if batch:
                self._sent.extend(batch)
                yield self._audio_request(b"".join(batch))
            if not more:
                return
        await self.session.stream_ended(self.turn_id)

    async def _next_batch(self) -> tuple[list[bytes], bool]:
        """Up to 100 ms of audio (the chunk size Dialogflow recommends); False once the input has ended."""
        batch: list[bytes] = []
        while len(batch) < BATCH_FRAMES:
            pcm = await self._queue.get()
            if pcm is None:
                return batch, False
            batch.append(pcm)
        return batch, True

    @staticmethod
    def _audio_request(pcm: bytes) -> Any:
        """A raw protobuf request: this is the per-chunk hot path, proto-plus wrappers cost three objects each."""
        return _RAW_REQUEST(query_input={"audio": {"audio": pcm}})

    async def _stream(self, answered: list[bool]) -> cx.DetectIntentResponse | None:
        stream = await self.deps.client.streaming_detect_intent(
            requests=self._requests(), timeout=self.deps.settings.max_turn_speech_s + 30
        )
        async for response in stream:
            answered[0] = True
            kind = response._pb.WhichOneof("response")
            if kind == "recognition_result":
                await self._on_recognition(response.recognition_result)
            elif kind == "detect_intent_response":
                final = response.detect_intent_response
                if final.response_type == cx.DetectIntentResponse.ResponseType.FINAL:
                    self.end_input()
                    return final
        return None

    async def _on_recognition(self, result: cx.StreamingRecognitionResult) -> None:
        if result.message_type == _MessageType.END_OF_SINGLE_UTTERANCE:
            await self.session.stream_ended(self.turn_id)
        elif result.message_type == _MessageType.TRANSCRIPT and result.transcript:
            event = Transcript(turn_id=self.turn_id, text=result.transcript, is_final=result.is_final)
            await self.session.emit(self.turn_id, event)

    async def _answer(self, response: cx.DetectIntentResponse) -> str:
        result = response.query_result
        match = result.match
        intent_name = match.intent.display_name or "fallback"
        parameters = struct_to_dict(result._pb.parameters)
        intent = Intent(turn_id=self.turn_id, name=intent_name, confidence=match.confidence, parameters=parameters)
        if not await self.session.emit(self.turn_id, intent):
            return "interrupted"
        tool_call = next((m.tool_call for m in result.response_messages if "tool_call" in m), None)
        if tool_call is not None:
            response = await self._run_tool(tool_call)
            result = response.query_result
        return await self._speak(result, response.output_audio)

    async def _run_tool(self, call: cx.ToolCall) -> cx.DetectIntentResponse:
        name = call.action or call.tool.rsplit("/", 1)[-1]
        outcome = cx.ToolCallResult(tool=call.tool, action=call.action)
        started = time.perf_counter()
        try:
            output = await call_tool(
                self.deps.nc, name, struct_to_dict(call._pb.input_parameters), self.deps.settings.tool_timeout_s
            )
            TOOL_REQUESTS.labels(name, "ok").inc()
            await self.session.emit(self.turn_id, ToolResult(turn_id=self.turn_id, tool=name, output=output))
            outcome.output_parameters = dict_to_struct(output)
        except ToolError as exc:
            TOOL_REQUESTS.labels(name, exc.code).inc()
            await self.session.emit(
                self.turn_id, Error(code="tool_failed", message=exc.message, turn_id=self.turn_id, fatal=False)
            )
            outcome.error = cx.ToolCallResult.Error(message=exc.message)
        finally:
            TOOL_LATENCY.labels(name).observe(time.perf_counter() - started)
        return await self._detect(cx.QueryInput(tool_call_result=outcome, language_code=self.session.language))

    async def _speak(self, result: cx.QueryResult, audio: bytes) -> str:
        text = " ".join(" ".join(m.text.text) for m in result.response_messages if "text" in m).strip()
        if text and not await self.session.emit(self.turn_id, ResponseText(turn_id=self.turn_id, text=text)):
            return "interrupted"
        pcm, rate = wav_payload(audio, self.deps.settings.output_sample_rate)
        if self._ended_at is not None and pcm:
            TURN_LATENCY.observe(time.perf_counter() - self._ended_at)
        if not await play(self.session, self.turn_id, pcm, rate):
            return "interrupted"
        await self.session.emit(self.turn_id, AudioEnd(turn_id=self.turn_id))
        return "completed"
