"""VAD session handler: bus frames in, raw speech events out on the session's VAD subject."""

from nats.aio.client import Client as NATS

from shared import bus, subjects
from shared.epochs import EpochFilter
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
    """One owned session: its detector and where its events go (stamped with the session's VAD epoch)."""

    __slots__ = ("_detector", "_fence", "_nc", "_subject")

    def __init__(self, nc: NATS, settings: VadSettings, claim: bus.Claim, fence: EpochFilter) -> None:
        self._nc = nc
        self._fence = fence
        self._subject = subjects.vad(claim.session_id)
        self._detector = make_detector(settings)

    def extra_subscriptions(self) -> dict[str, MsgHandler]:
        return {}

    async def on_audio(self, seq: int, pcm: bytes) -> None:
        VAD_FRAMES.inc()
        for event in self._detector.feed(seq, pcm):
            epoch = self._fence.epoch
            message: bus.VadEvent = (
                bus.VadSpeechStarted(offset_ms=event.offset_ms, epoch=epoch)
                if isinstance(event, SpeechStart)
                else bus.VadSpeechEnded(offset_ms=event.offset_ms, epoch=epoch)
            )
            await self._nc.publish(self._subject, bus.encoder.encode(message))

    async def on_control(self, message: bus.Control) -> None:
        """Control messages concern the dialog side; the VAD only needs the release ones, handled upstream."""

    def confirm(self) -> None:
        """Voice activity is stateless between frames: nothing to hand over."""

    async def finish(self, grace_s: float) -> None:
        """Nothing runs between frames: the new owner carries on."""

    async def close(self) -> None:
        """Nothing to free: the detector is garbage-collected."""
