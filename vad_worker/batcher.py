"""Batched Silero inference across the sessions of one VAD worker (the amortised path; docs/benchmarks.md).

Sessions submit their 32 ms windows; the first window that arrives while nothing is pending starts a short wait
(`VOICECHAT_VAD_BATCH_WAIT_MS`), so windows of other sessions that arrive meanwhile go through the same call (up to
`VOICECHAT_VAD_BATCH_MAX` streams: more windows start a flush at once). A session with several windows pending
(a burst after a stall) has them in successive rounds of the flush, in order: round k holds every stream's k-th
window. Decisions then go through each session's smoother, and the events to its sink.
"""

import asyncio
from collections.abc import Awaitable, Callable

import numpy as np
from nats.errors import Error as NatsError

from shared.logs import get_logger
from shared.metrics import ERRORS, VAD_BATCH_STREAMS
from vad_worker.detector import SileroStream
from vad_worker.silero import Floats, SileroPool, to_window
from vad_worker.smoother import SmootherEvent

Sink = Callable[[SmootherEvent], Awaitable[None]]


class BatchedStream:
    """A session's stream as the batcher sees it: where its events go, how many windows it has pending."""

    __slots__ = ("closed", "queued", "sink", "stream")

    def __init__(self, stream: SileroStream, sink: Sink) -> None:
        self.stream = stream
        self.sink = sink
        self.queued = 0
        self.closed = False

    def close(self) -> None:
        """No more windows; pending ones are dropped and the slot goes back to the pool."""
        self.closed = True
        self.stream.close()


log = get_logger(__name__)

_Item = tuple[BatchedStream, int, bytes]  # stream, audio offset, window PCM


class Batcher:
    __slots__ = ("_flush", "_pending", "_rounds", "max_batch", "pool", "wait_s")

    def __init__(self, pool: SileroPool, wait_ms: int, max_batch: int) -> None:
        self.pool = pool
        self.wait_s = wait_ms / 1000
        self.max_batch = max_batch
        self._rounds: list[list[_Item]] = []
        self._pending = 0
        self._flush: asyncio.Task[None] | None = None

    def submit(self, stream: BatchedStream, seq: int, pcm: bytes) -> None:
        """Queue the windows this bus frame completes; a flush runs after the batch wait (at once when full)."""
        self.enqueue(stream, seq, pcm)
        if not self._pending or (self._flush is not None and not self._flush.done()):
            return
        self._flush = asyncio.create_task(self._run(0.0 if self._pending >= self.max_batch else self.wait_s))

    def enqueue(self, stream: BatchedStream, seq: int, pcm: bytes) -> None:
        """Queue the windows this bus frame completes, each in the round after the stream's previous one."""
        for offset, window in stream.stream.windows(seq, pcm):
            round_index = stream.queued
            if round_index == len(self._rounds):
                self._rounds.append([])
            self._rounds[round_index].append((stream, offset, window))
            stream.queued += 1
            self._pending += 1

    def take(self) -> list[list[_Item]]:
        """Every queued round, leaving none."""
        rounds, self._rounds, self._pending = self._rounds, [], 0
        for stream, _, _ in rounds[0] if rounds else ():
            stream.queued = 0
        return rounds

    async def _run(self, wait_s: float) -> None:
        if wait_s:
            await asyncio.sleep(wait_s)
        while self._rounds:
            rounds = self.take()
            try:
                events = self.decide(rounds)
            except Exception:  # the model failed: these windows are lost, the next flush tries again
                ERRORS.labels("vad_worker", "vad_model_failed").inc()
                log.exception("vad_model_failed", windows=sum(map(len, rounds)))
                continue
            for stream, event in events:
                if stream.closed:
                    continue
                try:
                    await stream.sink(event)
                except NatsError:  # e.g. the client's pending buffer is full: that event is lost, the rest go on
                    ERRORS.labels("vad_worker", "vad_event_lost").inc()
                    log.warning("vad_event_lost")

    def decide(self, rounds: list[list[_Item]]) -> list[tuple[BatchedStream, SmootherEvent]]:
        """Run every round through the model in batches; the smoothed events, in order per stream."""
        events: list[tuple[BatchedStream, SmootherEvent]] = []
        for items in rounds:
            live = [item for item in items if not item[0].closed]
            for first in range(0, len(live), self.max_batch):
                batch = live[first : first + self.max_batch]
                probabilities = self._infer(batch)
                for (stream, offset, _), probability in zip(batch, probabilities.tolist(), strict=True):
                    event = stream.stream.decide(probability, offset)
                    if event is not None:
                        events.append((stream, event))
        return events

    def _infer(self, batch: list[_Item]) -> Floats:
        VAD_BATCH_STREAMS.observe(len(batch))
        slots = np.fromiter((item[0].stream.slot for item in batch), dtype=np.intp, count=len(batch))
        windows = to_window(b"".join(item[2] for item in batch)).reshape(len(batch), -1)
        return self.pool.infer(slots, windows)
