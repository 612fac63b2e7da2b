"""One turn against Dialogflow CX: stream the utterance (`cx_stream.py`) or send the text, run the tool call the
agent asks for (`tool_call.py`), speak the answer (`pacing.py`). It tells its session only what `TurnSink` offers,
and leaves its facts, stages and spans in its `TurnLog` (`turn_log.py`), written once when it is over.

It ends with exactly one of `audio_end`, an `error` that fails it, or (cancelled by its session) nothing of its own:
the agent's failure, a stream that ends without a final answer, audio the agent does not take in time, and any
other exception (ours, or NATS refusing an event) all fail it with an `error`; the session fails a turn that still
sent no last event (dialog_worker/session.py). tests/unit/test_turn_faults.py injects faults at random points."""

import asyncio
import contextlib
import time

from google.api_core.exceptions import GoogleAPICallError
from google.cloud import dialogflowcx_v3 as cx

from dialog_worker.agent_errors import error_code, status_of
from dialog_worker.cx_calls import CxDeps, detect
from dialog_worker.cx_stream import CxStream
from dialog_worker.pacing import play
from dialog_worker.tool_call import run_tool
from dialog_worker.turn_api import Spoken, TurnSink, TurnStart, Typed
from dialog_worker.turn_log import TurnLog
from shared.audio import wav_payload
from shared.convlog.records import Outcome
from shared.logs import get_logger
from shared.metrics import TURN_AUDIO_OVERFLOWS, TURN_LATENCY, TURNS
from shared.protocol import AudioEnd, Error, ErrorCode, Intent, ResponseText, ServerEvent, Transcript
from shared.structs import struct_to_dict

log = get_logger(__name__)
_OUTCOMES: dict[str, Outcome] = {"completed": "answered", "interrupted": "interrupted", "failed": "failed"}


class CxTurn:
    def __init__(self, deps: CxDeps, sink: TurnSink, record: TurnLog, start: TurnStart) -> None:
        self.deps = deps
        self.sink = sink
        self.record = record
        self.turn_id = record.turn_id
        self._stream = CxStream(deps, sink, record, start.preroll) if isinstance(start, Spoken) else None
        self._text_at: float | None = None
        self._answer_at = 0.0  # when the answer that is spoken was in hand (perf_counter): `first_audio` starts
        self._overflowed = False  # the agent did not take the audio in time: the task is cancelled to fail
        self._task = asyncio.create_task(self._run(start))

    def feed(self, pcm: bytes) -> None:
        if self._stream is not None and not self._stream.feed(pcm) and not self._overflowed:
            self._overflowed = True
            TURN_AUDIO_OVERFLOWS.inc()
            # after the task's first step (scheduled when it was made): a task cancelled before it ran would never
            # reach the `except` that fails it
            asyncio.get_running_loop().call_soon(self._task.cancel)

    def end_input(self) -> None:
        if self._stream is not None:
            self._stream.end_input()

    def cancel(self) -> None:
        """Interrupted: on record at once (a task cancelled before it ran never reaches its `finally`)."""
        self._task.cancel()
        self.record.finish("interrupted")

    async def wait(self, grace_s: float) -> None:
        """Until the turn is over, or `grace_s` passed (then it is cancelled)."""
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(self._task), grace_s)
        self._task.cancel()

    async def _run(self, start: TurnStart) -> None:
        outcome: str = "failed"
        failure: ErrorCode = "turn_failed"
        try:
            response = await self._ask(start)
            if response is None:
                log.warning("turn_failed", status="NO_FINAL")
                await self._fail(failure, "the dialog agent gave no answer")
            else:
                outcome = await self._answer(response)
        except asyncio.CancelledError:
            if not self._overflowed:
                outcome = "interrupted"
                raise
            asyncio.current_task().uncancel()  # type: ignore[union-attr]
            log.warning("turn_failed", status="AUDIO_OVERFLOW")
            await self._fail(failure, "the dialog agent did not take the audio in time")
        except GoogleAPICallError as exc:
            failure = error_code(exc)
            log.warning("turn_failed", status=status_of(exc), error=str(exc.message))
            await self._fail(failure, "the dialog agent failed")
        except Exception as exc:  # our bug, or NATS refusing an event: the turn fails, the session lives
            log.warning("turn_crashed", error=type(exc).__name__)  # its message may hold session data: DEBUG only
            log.debug("turn_crashed_detail", exc_info=True)
            await self._fail(failure, "the turn failed")
        finally:
            TURNS.labels(outcome).inc()
            self.record.finish(_OUTCOMES[outcome], failure if outcome == "failed" else None)
            await self.sink.turn_done(self.turn_id)

    async def _fail(self, code: ErrorCode, message: str) -> None:
        await self.sink.emit(self.turn_id, Error(code=code, message=message, turn_id=self.turn_id, fatal=False))

    async def emit(self, turn_id: int, event: ServerEvent) -> bool:
        """The sink's `emit`: this turn is the pacing sink of its answer audio."""
        return await self.sink.emit(turn_id, event)

    def bot_audio_started(self, turn_id: int) -> None:
        """The first answer audio is out: the `first_audio` stage ends here."""
        self.record.stage("first_audio", self._answer_at)
        self.sink.bot_audio_started(turn_id)

    async def wait_while_paused(self, turn_id: int) -> float:
        return await self.sink.wait_while_paused(turn_id)

    async def _ask(self, start: TurnStart) -> cx.DetectIntentResponse | None:
        match start:
            case Spoken():
                assert self._stream is not None
                response = await self._stream.run()
            case Typed(text=text):
                self._text_at = time.perf_counter()
                await self.sink.emit(self.turn_id, Transcript(turn_id=self.turn_id, text=text, is_final=True))
                response = await detect(
                    self.deps, cx.QueryInput(text=cx.TextInput(text=text), language_code=self.deps.language)
                )
                self.record.stage("recognition", self._text_at)
        self._answer_at = time.perf_counter()
        return response

    def _input_ended_at(self) -> float | None:
        return self._stream.ended_at if self._stream is not None else self._text_at

    async def _answer(self, response: cx.DetectIntentResponse) -> str:
        result = response.query_result
        match = result.match
        intent_name = match.intent.display_name or "fallback"
        parameters = struct_to_dict(result._pb.parameters)
        intent = Intent(turn_id=self.turn_id, name=intent_name, confidence=match.confidence, parameters=parameters)
        self.record.intent, self.record.confidence, self.record.parameters = intent_name, match.confidence, parameters
        if not await self.sink.emit(self.turn_id, intent):
            return "interrupted"
        tool_call = next((m.tool_call for m in result.response_messages if "tool_call" in m), None)
        if tool_call is not None:
            response = await run_tool(self.deps, self.sink, self.record, tool_call)
            self._answer_at = time.perf_counter()
            result = response.query_result
        return await self._speak(result, response.output_audio)

    async def _speak(self, result: cx.QueryResult, audio: bytes) -> str:
        text = " ".join(" ".join(m.text.text) for m in result.response_messages if "text" in m).strip()
        self.record.answer = text
        if text and not await self.sink.emit(self.turn_id, ResponseText(turn_id=self.turn_id, text=text)):
            return "interrupted"
        pcm, rate = wav_payload(audio, self.deps.settings.output_sample_rate)
        ended_at = self._input_ended_at()
        if ended_at is not None and pcm:
            TURN_LATENCY.observe(time.perf_counter() - ended_at)
        if not await play(self, self.turn_id, pcm, rate):
            return "interrupted"
        await self.sink.emit(self.turn_id, AudioEnd(turn_id=self.turn_id))
        return "completed"
