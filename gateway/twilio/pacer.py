"""Outbound audio pacing for a phone call (pure, time passed in; docs/telephony.md, "Audio").

The answer arrives in bursts (100 ms chunks up to 300 ms early, docs/protocol.md); Twilio plays whatever it is
sent and buffers the rest. The pacer holds the answer as 20 ms mu-law frames and releases each no earlier than
`lead_s` before it will play, so what Twilio holds stays small and the gateway still has the rest when the
caller barges in: `drop` forgets it (interrupted), `pause` stops releasing and takes back what Twilio was told to
play but has not played yet (Twilio is sent `clear`), `resume` continues from there. Marks ride in the same queue
and are released when the audio before them has been released.
"""

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

FRAME_S = 0.02


@dataclass(frozen=True, slots=True)
class MarkOut:
    name: str


Item = bytes | MarkOut


class Pacer:
    def __init__(self, lead_s: float, frame_s: float = FRAME_S) -> None:
        self.lead_s = lead_s
        self.frame_s = frame_s
        self.paused = False
        self._queue: deque[Item] = deque()
        self._sent: deque[tuple[float, Item]] = deque()  # (play end, item) released but maybe not yet played
        self._play_at = 0.0  # when the next released frame will start playing

    def add(self, items: Iterable[Item]) -> None:
        self._queue.extend(items)

    def due(self, now: float) -> list[Item]:
        """Everything whose release time has come, in order."""
        self._forget_played(now)
        if self.paused:
            return []
        out: list[Item] = []
        start = max(self._play_at, now)
        while self._queue and start <= now + self.lead_s:
            item = self._queue.popleft()
            if isinstance(item, bytes):
                start += self.frame_s
            self._sent.append((start, item))
            out.append(item)
        self._play_at = start
        return out

    def next_due(self, now: float) -> float | None:
        """When `due` has something next; None while paused or empty."""
        if self.paused or not self._queue:
            return None
        return max(now, self._play_at - self.lead_s)

    def playing(self, now: float) -> bool:
        """Audio released or queued that has not finished playing."""
        self._forget_played(now)
        return bool(self._queue) or any(isinstance(item, bytes) for _, item in self._sent)

    def pause(self, now: float) -> None:
        """Stop releasing; what Twilio holds unplayed (it is about to be cleared) goes back to the queue's front,
        including the frame playing now (a repeat of under one frame rather than a gap)."""
        self._forget_played(now)
        self.paused = True
        self._queue.extendleft(item for _, item in reversed(self._sent))
        self._sent.clear()
        self._play_at = now

    def resume(self, now: float) -> None:
        self.paused = False
        self._play_at = now

    def drop(self, now: float) -> bool:
        """Forget the answer (a paused one too: the next answer plays); True when any of it was still to play
        (Twilio must then be sent `clear`)."""
        unplayed = self.playing(now)
        self.paused = False
        self._queue.clear()
        self._sent.clear()
        self._play_at = now
        return unplayed

    def pending(self, name: str) -> bool:
        """The mark `name` is still queued here (an echo of it from before a pause is early)."""
        return MarkOut(name) in self._queue

    def _forget_played(self, now: float) -> None:
        sent = self._sent
        while sent and sent[0][0] <= now:
            sent.popleft()
