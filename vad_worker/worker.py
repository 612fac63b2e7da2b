"""VAD session handler: bus frames in, raw speech events out on the session's VAD subject.

With tracing on (shared/tracing.py), each utterance is the root span `vad speech` of its turn's trace; both speech
events carry it in their `traceparent` header, and the detection of its start and end are spans of their own.
"""

import time

from nats.aio.client import Client as NATS
from opentelemetry.trace import Span

from shared import bus, stages, subjects, tracing
from shared.metrics import VAD_FRAMES
from shared.session_worker import MsgHandler
from shared.settings import VadSettings
from vad_worker.detector import SpeechDetector
from vad_worker.smoother import SpeechStart


def make_detector(settings: VadSettings) -> SpeechDetector:
    return SpeechDetector(
        aggressiveness=settings.vad_aggressiveness,
        frame_ms=settings.vad_frame_ms,
        start_ms=settings.vad_start_ms,
        start_window_ms=settings.vad_start_window_ms,
        end_ms=settings.vad_end_ms,
    )


class VadSession:
    """One owned session: its detector and where its events go."""

    __slots__ = ("_detector", "_nc", "_span", "_subject")

    def __init__(self, nc: NATS, settings: VadSettings, claim: bus.Claim) -> None:
        self._nc = nc
        self._subject = subjects.vad(claim.session_id)
        self._detector = make_detector(settings)
        self._span: Span | None = None

    def extra_subscriptions(self) -> dict[str, MsgHandler]:
        return {}

    async def on_audio(self, seq: int, pcm: bytes) -> None:
        VAD_FRAMES.inc()
        received = time.perf_counter()
        for event in self._detector.feed(seq, pcm):
            if isinstance(event, SpeechStart):
                await self._started(event.offset_ms)
            else:
                await self._ended(event.offset_ms, received)

    async def _started(self, offset_ms: int) -> None:
        began = tracing.now_ns()
        tracing.end(self._span)  # an utterance that never ended (the session moved meanwhile)
        self._span = span = tracing.start("vad speech", None, began, offset_ms=offset_ms)
        message = bus.encoder.encode(bus.VadSpeechStarted(offset_ms=offset_ms))
        await self._nc.publish(self._subject, message, headers=tracing.headers(span))
        tracing.record("vad start", span, began)

    async def _ended(self, offset_ms: int, received: float) -> None:
        began = tracing.now_ns() - int((time.perf_counter() - received) * 1e9)
        span, self._span = self._span, None
        message = bus.encoder.encode(bus.VadSpeechEnded(offset_ms=offset_ms))
        await self._nc.publish(self._subject, message, headers=tracing.headers(span))
        stages.observe("vad_end", time.perf_counter() - received)
        tracing.record("vad end", span, began)
        tracing.end(span, offset_end_ms=offset_ms)

    async def on_control(self, message: bus.Control) -> None:
        """Control messages concern the dialog side; the VAD only needs the release ones, handled upstream."""

    def confirm(self) -> None:
        """Voice activity is stateless between frames: nothing to hand over."""

    async def finish(self, grace_s: float) -> None:
        """Nothing runs between frames: the new owner carries on."""

    async def close(self) -> None:
        """The detector is garbage-collected; an utterance under way ends its span here."""
        tracing.end(self._span)
        self._span = None
