"""Turn audio forwarding of one VAD session (`VOICECHAT_TURN_AUDIO`, docs/audio_path.md).

The VAD owner hears every frame; the dialog owner only needs a turn's audio. The forwarder keeps the last
`VOICECHAT_PREROLL_MS` of frames; at each speech start (the VAD's or the client's `start_speaking`) it numbers a
new utterance, sends the kept frames (the pre-roll) on that utterance's subject, then every frame as it arrives,
until the dialog owner closes that utterance (`bus.TurnAudioClosed`) or `VOICECHAT_TURN_AUDIO_MAX_S` passed. Frames
go out as they came in (header and epochs included), in order, `VOICECHAT_TURN_AUDIO_CHUNK_MS` of them per message
(`bus.pack_chunk`: consecutive frames under the same epochs; the pre-roll at once, the speech's end as soon as the
VAD decides it: `flush`); a speech start while forwarding starts the next utterance with the pre-roll again (the
dialog skips frames it already has by sequence number), so a close that crossed the new start on the bus never stops
the new utterance.
"""

from collections import deque

from shared import bus, subjects
from shared.audio import FRAME_MS
from shared.metrics import ERRORS, STALE_EPOCH, TURN_AUDIO_FRAMES
from shared.publish_batch import PublishBatch

_NOT_FORWARDING = ""
UTTERANCES_PER_EPOCH = 1_000_000


class TurnAudioForwarder:
    __slots__ = (
        "_batch",
        "_chunk_frames",
        "_held",
        "_kept",
        "_left",
        "_max_frames",
        "_session_id",
        "_subject",
        "next_seq",
        "utterance",
    )

    def __init__(
        self, batch: PublishBatch, session_id: str, preroll_ms: int, max_s: float, epoch: int, *, chunk_ms: int
    ) -> None:
        self._batch = batch
        self._chunk_frames = max(1, chunk_ms // FRAME_MS)
        self._held: list[bytes] = []  # frames of the chunk being filled
        self._session_id = session_id
        self._kept: deque[bytes] = deque(maxlen=max(1, preroll_ms // FRAME_MS))
        self._max_frames = int(max_s * 1000 / FRAME_MS)
        self._left = 0
        self._subject = _NOT_FORWARDING
        self.utterance = epoch * UTTERANCES_PER_EPOCH  # numbers go up across owners: a newer owner has a newer epoch
        self.next_seq = 0  # the sequence number after the last frame heard (audio time: next_seq * 20 ms)

    async def frame(self, seq: int, frame: bytes) -> None:
        """Every frame of the session, as it came in (header included): kept, and forwarded during a turn."""
        self.next_seq = seq + 1
        self._kept.append(frame)
        if self._subject:
            await self._hold(frame)

    async def start(self) -> int:
        """A speech start: the next utterance, its pre-roll sent now (the previous one's held frames first); its
        number."""
        await self.flush()
        self.utterance += 1
        self._subject = subjects.turn_audio(self._session_id, self.utterance)
        self._left = self._max_frames
        for frame in tuple(self._kept):
            await self._hold(frame)
        await self.flush()
        return self.utterance

    async def flush(self) -> None:
        """Send the frames held for the chunk being filled (at a speech end, before its event; at a speech start)."""
        if self._held:
            held, self._held = self._held, []
            await self._batch.publish(self._subject, bus.pack_chunk(held), _lost)
            TURN_AUDIO_FRAMES.inc(len(held))

    def close(self, message: bus.TurnAudioClosed) -> None:
        """The dialog owner's close: stops the utterance it names, unless a newer one started meanwhile or the close
        comes from a dialog owner older than the one the latest frame was sent to."""
        if self._kept and message.epoch and message.epoch < bus.unpack_frame(self._kept[-1])[1][1]:
            STALE_EPOCH.labels("vad").inc()
            return
        if message.utterance == self.utterance:
            self._subject = _NOT_FORWARDING
            self._held.clear()

    async def _hold(self, frame: bytes) -> None:
        self._left -= 1
        if self._left < 0:
            await self.flush()
            self._subject = _NOT_FORWARDING
            return
        if self._held and not bus.chunks_with(self._held[-1], frame):
            await self.flush()
        self._held.append(frame)
        if len(self._held) >= self._chunk_frames:
            await self.flush()


def _lost(_: BaseException) -> None:
    """A chunk nats-py refused (e.g. its pending buffer is full): its frames are lost, forwarding goes on."""
    ERRORS.labels("vad_worker", "turn_audio_lost").inc()
