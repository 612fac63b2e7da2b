"""VAD session handlers: bus frames in, raw speech events out on the session's VAD subject (docs/protocol.md).

`VOICECHAT_VAD_ENGINE=webrtc` decides each frame as it arrives; `silero` hands each session's windows to the
worker's one `Batcher`, which runs the windows of many sessions through one model call.

With turn audio on (`VOICECHAT_TURN_AUDIO`), each session also forwards its turns' audio to the dialog owner
(vad_worker/turn_audio.py) and relays the client's `start_speaking` / `stop_speaking` as speech events, so they
reach the dialog in order with that audio.

With tracing on (shared/tracing.py), each utterance is the root span `vad speech` of its turn's trace; both speech
events carry it in their `traceparent` header, and the detection of its start and end are spans of their own.
"""

import time
from functools import cache

import msgspec
from nats.aio.msg import Msg
from opentelemetry.trace import Span

from shared import bus, stages, subjects, tracing
from shared.audio import frame_time_ms
from shared.epochs import EpochFilter
from shared.logs import get_logger
from shared.loops import ErrorBurst
from shared.metrics import ERRORS, VAD_FRAMES, VAD_ILLEGAL_INPUTS
from shared.publish_batch import PublishBatch
from shared.session_worker import HandlerFactory, MsgHandler
from shared.settings import VadSettings
from vad_worker.batcher import BatchedStream, Batcher
from vad_worker.detector import Detector, SileroDetector, SileroStream, WebrtcDetector
from vad_worker.silero import WINDOW_MS, SileroModel, SileroPool
from vad_worker.smoother import IllegalInput, Smoother, SmootherEvent, SpeechStart
from vad_worker.turn_audio import TurnAudioForwarder

log = get_logger(__name__)
_publishes = ErrorBurst("vad_event_publish")


def _event_lost(exc: BaseException) -> None:
    """A speech event nats-py refused (its pending buffer is full): counted, logged once per burst."""
    ERRORS.labels("vad_worker", "vad_event_lost").inc()
    _publishes.failed(exc)


def make_smoother(settings: VadSettings, frame_ms: int, start_ms: int) -> Smoother:
    return Smoother(frame_ms, start_ms, settings.vad_start_window_ms, settings.vad_end_ms)


@cache
def shared_pool() -> SileroPool:
    """The process's one Silero model and its stream slots (loaded on first use)."""
    return SileroPool(SileroModel())


def make_silero_stream(settings: VadSettings) -> SileroStream:
    smoother = make_smoother(settings, WINDOW_MS, settings.vad_silero_start_ms)
    return SileroStream(shared_pool(), settings.vad_silero_threshold, smoother)


def make_detector(settings: VadSettings) -> Detector:
    """A standalone detector of the configured engine (Silero unbatched): what the worker decides, frame by frame."""
    if settings.vad_engine == "silero":
        return SileroDetector(make_silero_stream(settings))
    return WebrtcDetector(
        settings.vad_aggressiveness,
        settings.vad_frame_ms,
        make_smoother(settings, settings.vad_frame_ms, settings.vad_start_ms),
    )


class _Publisher:
    """Where one session's events go (stamped with the session's VAD epoch), with the trace of the utterance under
    way."""

    __slots__ = ("_batch", "_fence", "_span", "_subject", "turn_audio")

    def __init__(
        self, batch: PublishBatch, session_id: str, fence: EpochFilter, turn_audio: TurnAudioForwarder | None
    ) -> None:
        self._batch = batch
        self._fence = fence
        self._subject = subjects.vad(session_id)
        self._span: Span | None = None
        self.turn_audio = turn_audio

    async def publish(self, event: SmootherEvent, received: float | None = None) -> None:
        """`received`: when the frame that decided `event` arrived (perf_counter), for the `vad_end` stage."""
        if isinstance(event, IllegalInput):
            VAD_ILLEGAL_INPUTS.labels(event.phase.value, event.given.value).inc()
            log.warning("vad_illegal_input", phase=event.phase.value, input=event.given.value)
        elif isinstance(event, SpeechStart):
            await self._started(event.offset_ms)
        else:
            await self._ended(event.offset_ms, time.perf_counter() if received is None else received)

    async def _started(self, offset_ms: int) -> None:
        began = tracing.now_ns()
        tracing.end(self._span)  # an utterance that never ended (the session moved meanwhile)
        self._span = span = tracing.start("vad speech", None, began, offset_ms=offset_ms)
        utterance = await self.turn_audio.start() if self.turn_audio is not None else 0
        event = bus.VadSpeechStarted(offset_ms=offset_ms, epoch=self._fence.epoch, utterance=utterance)
        await self._batch.publish(self._subject, bus.encoder.encode(event), _event_lost, tracing.headers(span))
        tracing.record("vad start", span, began)

    async def _ended(self, offset_ms: int, received: float) -> None:
        """The speech end, after the turn audio held so far: the dialog may end the agent's input at once."""
        if self.turn_audio is not None:
            await self.turn_audio.flush()
        began = tracing.now_ns() - int((time.perf_counter() - received) * 1e9)
        span, self._span = self._span, None
        message = bus.encoder.encode(bus.VadSpeechEnded(offset_ms=offset_ms, epoch=self._fence.epoch))
        await self._batch.publish(self._subject, message, _event_lost, tracing.headers(span))
        stages.observe("vad_end", time.perf_counter() - received)
        tracing.record("vad end", span, began)
        tracing.end(span, offset_end_ms=offset_ms)

    async def relay(self, turn_audio: TurnAudioForwarder, message: bus.Control) -> None:
        """The client's `start_speaking` (a new utterance of turn audio) or `stop_speaking`, as a speech event at the
        audio heard so far, carrying the control's trace."""
        offset_ms = frame_time_ms(turn_audio.next_seq)
        event: bus.VadEvent
        if isinstance(message, bus.ControlStartSpeaking):
            event = bus.VadSpeechStarted(offset_ms, self._fence.epoch, await turn_audio.start(), client=True)
        else:
            await turn_audio.flush()
            event = bus.VadSpeechEnded(offset_ms, self._fence.epoch, turn_audio.utterance, client=True)
        headers = tracing.headers(tracing.incoming())
        await self._batch.publish(self._subject, bus.encoder.encode(event), _event_lost, headers)

    async def close(self) -> None:
        """The turn audio held so far is sent; an utterance under way ends its span here."""
        if self.turn_audio is not None:
            await self.turn_audio.flush()
        tracing.end(self._span)
        self._span = None


class _Session:
    """What every VAD session does besides detecting speech: forward turn audio when that is on; nothing to hand
    over, nothing to finish."""

    def __init__(self, batch: PublishBatch, settings: VadSettings, claim: bus.Claim, fence: EpochFilter) -> None:
        turn_audio = None
        if settings.turn_audio:
            turn_audio = TurnAudioForwarder(
                batch,
                claim.session_id,
                settings.preroll_ms,
                settings.turn_audio_max_s,
                fence.epoch,
                chunk_ms=settings.turn_audio_chunk_ms,
            )
        self._publisher = _Publisher(batch, claim.session_id, fence, turn_audio)
        self._session_id = claim.session_id

    def extra_subscriptions(self) -> dict[str, MsgHandler]:
        if self._publisher.turn_audio is None:
            return {}
        return {subjects.turn_audio_closed(self._session_id): self._on_closed}

    async def _on_closed(self, msg: Msg) -> None:
        try:
            message = bus.turn_audio_closed_decoder.decode(msg.data)
        except msgspec.DecodeError:
            log.warning("turn_audio_closed_invalid")
            return
        if self._publisher.turn_audio is not None:
            self._publisher.turn_audio.close(message)

    async def _heard(self, seq: int, msg: Msg) -> None:
        if self._publisher.turn_audio is not None:
            await self._publisher.turn_audio.frame(seq, msg.data)

    async def on_control(self, message: bus.Control) -> None:
        """Control messages concern the dialog side (the release ones are handled upstream); with turn audio on,
        the client's `start_speaking` / `stop_speaking` are relayed to it."""
        turn_audio = self._publisher.turn_audio
        if turn_audio is not None and isinstance(message, bus.ControlStartSpeaking | bus.ControlStopSpeaking):
            await self._publisher.relay(turn_audio, message)

    def confirm(self) -> None:
        """The detector's state is only the last second of audio: a new owner starts afresh."""

    async def finish(self, grace_s: float) -> None:
        """Nothing runs between frames: the new owner carries on."""


class WebrtcSession(_Session):
    def __init__(self, batch: PublishBatch, settings: VadSettings, claim: bus.Claim, fence: EpochFilter) -> None:
        super().__init__(batch, settings, claim, fence)
        self._detector = make_detector(settings)

    async def on_audio(self, seq: int, pcm: bytes, msg: Msg) -> None:
        VAD_FRAMES.inc()
        received = time.perf_counter()
        await self._heard(seq, msg)
        for event in self._detector.feed(seq, pcm):
            await self._publisher.publish(event, received)

    async def close(self) -> None:
        """The detector is garbage-collected; the publisher sends what it holds."""
        await self._publisher.close()


class SileroSession(_Session):
    def __init__(
        self, batch: PublishBatch, settings: VadSettings, claim: bus.Claim, fence: EpochFilter, batcher: Batcher
    ) -> None:
        super().__init__(batch, settings, claim, fence)
        self._batcher = batcher
        self._stream = BatchedStream(make_silero_stream(settings), self._publisher.publish)

    async def on_audio(self, seq: int, pcm: bytes, msg: Msg) -> None:
        VAD_FRAMES.inc()
        await self._heard(seq, msg)
        self._batcher.submit(self._stream, seq, pcm)

    async def close(self) -> None:
        self._stream.close()
        await self._publisher.close()


def session_factory(batch: PublishBatch, settings: VadSettings) -> HandlerFactory:
    """The handler factory of the configured engine (one batcher per worker process for Silero); every session
    publishes through the process's one `batch`."""
    if settings.vad_engine == "webrtc":
        return lambda claim, fence: WebrtcSession(batch, settings, claim, fence)
    batcher = Batcher(shared_pool(), settings.vad_batch_wait_ms, settings.vad_batch_max)
    return lambda claim, fence: SileroSession(batch, settings, claim, fence, batcher)
