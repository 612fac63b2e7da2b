"""The `StreamingDetectIntent` of a spoken turn: the request generator (config, pre-roll, then live audio batched
into 100 ms requests), retries while the agent is unavailable before any answer (agent_errors.py), and the
recognition results (transcripts and the end of the utterance) reported to the turn's sink; its stages
(`end_of_input`, `recognition`), the final transcript and a `cx stream` span go to the turn's log (`turn_log.py`).
Audio waiting for the agent is bounded (`VOICECHAT_TURN_AUDIO_QUEUE_S`): `feed` says when it is full, and the turn
fails (dropping the oldest audio would send the agent an utterance with a hole in it)."""

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from google.api_core.exceptions import GoogleAPICallError
from google.cloud import dialogflowcx_v3 as cx

from dialog_worker.agent_errors import retry_at_start, status_of
from dialog_worker.cx_calls import CxDeps, count_failure, observe_agent_time
from dialog_worker.turn_api import TurnSink
from dialog_worker.turn_log import TurnLog
from shared import tracing
from shared.audio import FRAME_MS, INTERNAL_RATE
from shared.metrics import DIALOGFLOW_REQUESTS
from shared.protocol import Transcript

BATCH_FRAMES = 5  # 100 ms of 20 ms frames: the chunk size Dialogflow recommends
_RAW_REQUEST = cx.StreamingDetectIntentRequest.pb()
_MessageType = cx.StreamingRecognitionResult.MessageType


class CxStream:
    """Feed it audio frames, end its input, `await run()` for the agent's final answer (None: none came)."""

    def __init__(self, deps: CxDeps, sink: TurnSink, record: TurnLog, preroll: tuple[bytes, ...]) -> None:
        self.deps = deps
        self.sink = sink
        self.record = record
        self.turn_id = record.turn_id
        self.ended_at: float | None = None  # when the input ended (perf_counter), for the turn latency
        self._closed_at: float | None = None  # when the last audio went to the agent
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._drained = False  # the queue gave its end: a retry replays the audio sent and ends there
        self._batch: list[bytes] = []
        self._sent: list[bytes] = list(preroll)
        self._max_frames = int(deps.settings.max_turn_speech_s * 1000 / FRAME_MS)
        self._max_queued = max(1, int(deps.settings.turn_audio_queue_s * 1000 / FRAME_MS))

    def feed(self, pcm: bytes) -> bool:
        """Queue a frame for the agent; False when the queue is full (the agent took none for too long)."""
        if self.ended_at is not None:
            return True
        if self._queue.qsize() >= self._max_queued:
            return False
        self._queue.put_nowait(pcm)
        return True

    def end_input(self) -> None:
        if self.ended_at is None:
            self.ended_at = time.perf_counter()
            self._queue.put_nowait(None)

    async def run(self) -> cx.DetectIntentResponse | None:
        """Stream until the final answer; a retry replays the audio sent so far, unless the agent had answered."""
        result = await retry_at_start(self._stream, self.deps.settings.dialog_start_retry_s, count_failure)
        DIALOGFLOW_REQUESTS.labels("OK").inc()
        if result is not None:
            observe_agent_time(result)
        return result

    async def _stream(self, answered: list[bool]) -> cx.DetectIntentResponse | None:
        span = self.record.child("cx stream", time.perf_counter())
        error: str | None = None
        try:
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
                        self._recognized(final)
                        return final
            return None
        except GoogleAPICallError as exc:
            error = status_of(exc)
            raise
        finally:
            tracing.end(span, error=error)

    def _recognized(self, final: cx.DetectIntentResponse) -> None:
        """The agent's final answer: `recognition` ran from the input's end (or now, if the agent ended it)."""
        began = self._closed_at or self.ended_at or time.perf_counter()
        self.record.stage("recognition", began)
        self.record.transcript = final.query_result.transcript or self.record.transcript

    async def _requests(self) -> AsyncIterator[Any]:
        audio_config = cx.InputAudioConfig(
            audio_encoding=cx.AudioEncoding.AUDIO_ENCODING_LINEAR_16,
            sample_rate_hertz=INTERNAL_RATE,
            single_utterance=True,
        )
        yield cx.StreamingDetectIntentRequest(
            session=self.deps.session_path,
            query_input=cx.QueryInput(audio=cx.AudioInput(config=audio_config), language_code=self.deps.language),
            output_audio_config=self.deps.output_config(),
            enable_partial_response=True,
        )
        for start in range(0, len(self._sent), BATCH_FRAMES):
            yield _audio_request(b"".join(self._sent[start : start + BATCH_FRAMES]))
        while len(self._sent) < self._max_frames and not self._drained:
            batch, more = await self._next_batch()
            self._drained = not more  # before the yield: the attempt may fail there
            if batch:
                self._sent.extend(batch)
                yield _audio_request(b"".join(batch))
            if not more:
                self._closed_at = self.record.stage("end_of_input", self.ended_at or time.perf_counter())
                return
        if not self._drained:
            await self.sink.stream_ended(self.turn_id)

    async def _next_batch(self) -> tuple[list[bytes], bool]:
        """Up to BATCH_FRAMES frames of audio; False once the input has ended. A batch being filled outlives a
        failed attempt (its frames are off the queue): the retry sends it."""
        more = True
        while len(self._batch) < BATCH_FRAMES and more:
            pcm = await self._queue.get()
            if pcm is None:
                more = False
            else:
                self._batch.append(pcm)
        batch, self._batch = self._batch, []
        return batch, more

    async def _on_recognition(self, result: cx.StreamingRecognitionResult) -> None:
        if result.message_type == _MessageType.END_OF_SINGLE_UTTERANCE:
            await self.sink.stream_ended(self.turn_id)
        elif result.message_type == _MessageType.TRANSCRIPT and result.transcript:
            event = Transcript(turn_id=self.turn_id, text=result.transcript, is_final=result.is_final)
            if result.is_final:
                self.record.transcript = result.transcript
            await self.sink.emit(self.turn_id, event)


def _audio_request(pcm: bytes) -> Any:
    """A raw protobuf request: this is the per-chunk hot path, proto-plus wrappers cost three objects each."""
    return _RAW_REQUEST(query_input={"audio": {"audio": pcm}})
