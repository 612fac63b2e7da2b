"""One turn against Dialogflow CX: stream the utterance (`cx_stream.py`) or send the text, run the tool call the
agent asks for (`tool_call.py`), speak the answer (`pacing.py`). It tells its session only what `TurnSink` offers."""

import asyncio
import contextlib
import time

from google.api_core.exceptions import GoogleAPICallError
from google.cloud import dialogflowcx_v3 as cx

from dialog_worker.cx_calls import CxDeps, detect, status, unreachable
from dialog_worker.cx_stream import CxStream
from dialog_worker.pacing import play
from dialog_worker.tool_call import run_tool
from dialog_worker.turn_api import Spoken, TurnSink, TurnStart, Typed
from shared.audio import wav_payload
from shared.logs import get_logger
from shared.metrics import TURN_LATENCY, TURNS
from shared.protocol import AudioEnd, Error, ErrorCode, Intent, ResponseText, Transcript
from shared.structs import struct_to_dict

log = get_logger(__name__)


class CxTurn:
    def __init__(self, deps: CxDeps, sink: TurnSink, turn_id: int, start: TurnStart) -> None:
        self.deps = deps
        self.sink = sink
        self.turn_id = turn_id
        self._stream = CxStream(deps, sink, turn_id, start.preroll) if isinstance(start, Spoken) else None
        self._text_at: float | None = None
        self._task = asyncio.create_task(self._run(start))

    def feed(self, pcm: bytes) -> None:
        if self._stream is not None:
            self._stream.feed(pcm)

    def end_input(self) -> None:
        if self._stream is not None:
            self._stream.end_input()

    def cancel(self) -> None:
        self._task.cancel()

    async def wait(self, grace_s: float) -> None:
        """Until the turn is over, or `grace_s` passed (then it is cancelled)."""
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(self._task), grace_s)
        self._task.cancel()

    async def _run(self, start: TurnStart) -> None:
        outcome = "failed"
        try:
            response = await self._ask(start)
            if response is not None:
                outcome = await self._answer(response)
        except asyncio.CancelledError:
            outcome = "interrupted"
            raise
        except GoogleAPICallError as exc:
            code: ErrorCode = "dialog_unavailable" if unreachable(exc) else "turn_failed"
            log.warning("turn_failed", status=status(exc), error=str(exc.message))
            await self.sink.emit(
                self.turn_id, Error(code=code, message="the dialog agent failed", turn_id=self.turn_id, fatal=False)
            )
        finally:
            TURNS.labels(outcome).inc()
            self.sink.turn_done(self.turn_id)

    async def _ask(self, start: TurnStart) -> cx.DetectIntentResponse | None:
        match start:
            case Spoken():
                assert self._stream is not None
                return await self._stream.run()
            case Typed(text=text):
                self._text_at = time.perf_counter()
                await self.sink.emit(self.turn_id, Transcript(turn_id=self.turn_id, text=text, is_final=True))
                return await detect(
                    self.deps, cx.QueryInput(text=cx.TextInput(text=text), language_code=self.deps.language)
                )

    def _input_ended_at(self) -> float | None:
        return self._stream.ended_at if self._stream is not None else self._text_at

    async def _answer(self, response: cx.DetectIntentResponse) -> str:
        result = response.query_result
        match = result.match
        intent_name = match.intent.display_name or "fallback"
        parameters = struct_to_dict(result._pb.parameters)
        intent = Intent(turn_id=self.turn_id, name=intent_name, confidence=match.confidence, parameters=parameters)
        if not await self.sink.emit(self.turn_id, intent):
            return "interrupted"
        tool_call = next((m.tool_call for m in result.response_messages if "tool_call" in m), None)
        if tool_call is not None:
            response = await run_tool(self.deps, self.sink, self.turn_id, tool_call)
            result = response.query_result
        return await self._speak(result, response.output_audio)

    async def _speak(self, result: cx.QueryResult, audio: bytes) -> str:
        text = " ".join(" ".join(m.text.text) for m in result.response_messages if "text" in m).strip()
        if text and not await self.sink.emit(self.turn_id, ResponseText(turn_id=self.turn_id, text=text)):
            return "interrupted"
        pcm, rate = wav_payload(audio, self.deps.settings.output_sample_rate)
        ended_at = self._input_ended_at()
        if ended_at is not None and pcm:
            TURN_LATENCY.observe(time.perf_counter() - ended_at)
        if not await play(self.sink, self.turn_id, pcm, rate):
            return "interrupted"
        await self.sink.emit(self.turn_id, AudioEnd(turn_id=self.turn_id))
        return "completed"
