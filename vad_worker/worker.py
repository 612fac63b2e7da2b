"""VAD session handlers: bus frames in, raw speech events out on the session's VAD subject (docs/protocol.md).

`VOICECHAT_VAD_ENGINE=webrtc` decides each frame as it arrives; `silero` hands each session's windows to the
worker's one `Batcher`, which runs the windows of many sessions through one model call.
"""

from collections.abc import Callable
from functools import cache

from nats.aio.client import Client as NATS

from shared import bus, subjects
from shared.logs import get_logger
from shared.metrics import VAD_FRAMES, VAD_ILLEGAL_INPUTS
from shared.session_worker import MsgHandler, SessionHandler
from shared.settings import VadSettings
from vad_worker.batcher import BatchedStream, Batcher
from vad_worker.detector import Detector, SileroDetector, SileroStream, WebrtcDetector
from vad_worker.silero import WINDOW_MS, SileroModel, SileroPool
from vad_worker.smoother import IllegalInput, Smoother, SmootherEvent, SpeechStart

log = get_logger(__name__)


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
    """Where one session's events go."""

    __slots__ = ("_nc", "_subject")

    def __init__(self, nc: NATS, session_id: str) -> None:
        self._nc = nc
        self._subject = subjects.vad(session_id)

    async def publish(self, event: SmootherEvent) -> None:
        if isinstance(event, IllegalInput):
            VAD_ILLEGAL_INPUTS.labels(event.phase.value, event.given.value).inc()
            log.warning("vad_illegal_input", phase=event.phase.value, input=event.given.value)
            return
        message: bus.VadEvent = (
            bus.VadSpeechStarted(offset_ms=event.offset_ms)
            if isinstance(event, SpeechStart)
            else bus.VadSpeechEnded(offset_ms=event.offset_ms)
        )
        await self._nc.publish(self._subject, bus.encoder.encode(message))


class _Session:
    """What every VAD session does besides its audio: nothing to hand over, nothing to finish."""

    def extra_subscriptions(self) -> dict[str, MsgHandler]:
        return {}

    async def on_control(self, message: bus.Control) -> None:
        """Control messages concern the dialog side; the VAD only needs the release ones, handled upstream."""

    def confirm(self) -> None:
        """The detector's state is only the last second of audio: a new owner starts afresh."""

    async def finish(self, grace_s: float) -> None:
        """Nothing runs between frames: the new owner carries on."""


class WebrtcSession(_Session):
    __slots__ = ("_detector", "_publisher")

    def __init__(self, nc: NATS, settings: VadSettings, claim: bus.Claim) -> None:
        self._publisher = _Publisher(nc, claim.session_id)
        self._detector = make_detector(settings)

    async def on_audio(self, seq: int, pcm: bytes) -> None:
        VAD_FRAMES.inc()
        for event in self._detector.feed(seq, pcm):
            await self._publisher.publish(event)

    async def close(self) -> None:
        """Nothing to free: the detector is garbage-collected."""


class SileroSession(_Session):
    __slots__ = ("_batcher", "_stream")

    def __init__(self, nc: NATS, settings: VadSettings, claim: bus.Claim, batcher: Batcher) -> None:
        self._batcher = batcher
        self._stream = BatchedStream(make_silero_stream(settings), _Publisher(nc, claim.session_id).publish)

    async def on_audio(self, seq: int, pcm: bytes) -> None:
        VAD_FRAMES.inc()
        self._batcher.submit(self._stream, seq, pcm)

    async def close(self) -> None:
        self._stream.close()


def session_factory(nc: NATS, settings: VadSettings) -> Callable[[bus.Claim], SessionHandler]:
    """The handler factory of the configured engine (one batcher per worker process for Silero)."""
    if settings.vad_engine == "webrtc":
        return lambda claim: WebrtcSession(nc, settings, claim)
    batcher = Batcher(shared_pool(), settings.vad_batch_wait_ms, settings.vad_batch_max)
    return lambda claim: SileroSession(nc, settings, claim, batcher)
