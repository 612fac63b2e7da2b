"""The audio a dialog session hands to its turns' streams: pure (no asyncio, no I/O).

Frames come either from the session's audio (every frame, one endless utterance 0) or, with `VOICECHAT_TURN_AUDIO`,
from the VAD owner's turn audio (vad_worker/turn_audio.py): numbered utterances, each starting with its pre-roll,
forwarded only from a speech start until the dialog closes it (docs/audio_path.md).

The frames of the latest utterance are kept (its pre-roll and what came before a turn opened); a turn that opens for
an utterance gets them as its pre-roll, then every later frame once, in order of sequence number: a frame a stream
already has (the pre-roll of an utterance that started while the previous one was still forwarded) is skipped. The
speech events travel on another subject than the frames, so a turn may open before its utterance's first frame is
here: it then starts with no pre-roll and waits for the first frame of that utterance or a later one (a late frame of
an earlier one is not its audio; the VAD numbers utterances upwards, across its owners too), then gets the whole
utterance as it comes.
"""

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from shared.audio import FRAME_MS, frame_time_ms

Feed = Callable[[bytes], None]
SLACK_MS = 1000  # frames of an utterance kept beyond its pre-roll, for a turn that opens after they came


@dataclass(slots=True)
class _Listener:
    feed: Feed
    last_seq: int  # the newest frame its stream has
    awaits: int  # the utterance whose first frame it waits for (0: none, it takes every new frame)


@dataclass(frozen=True, slots=True)
class Preroll:
    frames: tuple[bytes, ...]
    last_seq: int = -1  # the sequence number of the last of them
    awaits: int = 0  # no frame of the turn's utterance is here yet: this one


class TurnAudio:
    __slots__ = ("_kept", "_listeners", "_utterance", "offset_ms")

    def __init__(self, keep_ms: int) -> None:
        self._kept: deque[tuple[int, bytes]] = deque(maxlen=max(1, keep_ms // FRAME_MS))
        self._utterance = 0
        self._listeners: dict[int, _Listener] = {}
        self.offset_ms = 0  # audio time at the end of the latest frame

    def frame(self, utterance: int, seq: int, pcm: bytes) -> None:
        if utterance != self._utterance:
            self._utterance = utterance
            self._kept.clear()
        self._kept.append((seq, pcm))
        self.offset_ms = frame_time_ms(seq + 1)
        for listener in self._listeners.values():
            if seq > listener.last_seq and listener.awaits <= utterance:
                listener.awaits = 0
                listener.last_seq = seq
                listener.feed(pcm)

    def preroll(self, utterance: int) -> Preroll:
        """What a turn opening for `utterance` starts with: its frames kept so far."""
        if utterance != self._utterance or not self._kept:
            return Preroll((), awaits=utterance)
        return Preroll(tuple(pcm for _, pcm in self._kept), self._kept[-1][0])

    def listen(self, turn_id: int, feed: Feed, preroll: Preroll) -> None:
        """From now on `feed` gets every frame after the pre-roll it started with."""
        self._listeners[turn_id] = _Listener(feed, preroll.last_seq, preroll.awaits)

    def forget(self, turn_id: int) -> None:
        """The turn's stream needs no more audio."""
        self._listeners.pop(turn_id, None)

    @property
    def listening(self) -> bool:
        return bool(self._listeners)

    def clear(self) -> None:
        self._listeners.clear()
