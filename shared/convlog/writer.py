"""Writes conversation log records without ever making a turn wait (docs/conversation_log.md).

`write` only appends to a bounded buffer; one background task publishes to JetStream, oldest first, with the
record's `Nats-Msg-Id`, and on any failure (NATS down, JetStream unavailable, a timeout) retries the same record
with backoff, so a retry is stored once. Past `VOICECHAT_CONVLOG_BUFFER` waiting records, new ones are dropped and
counted (`voicechat_convlog_records_total{outcome="dropped"}`); a record JetStream refuses outright is counted as
`rejected`.
"""

import asyncio
import contextlib
from collections import deque

import nats.errors
import nats.js.errors
from nats.js import JetStreamContext

from shared import subjects
from shared.convlog.records import AnyRecord, TurnRecord, encoder
from shared.convlog.redact import mask_turn
from shared.convlog.stream import ensure_stream
from shared.logs import get_logger
from shared.metrics import CONVLOG_BUFFERED, CONVLOG_RECORDS
from shared.settings import ConvlogSettings

log = get_logger(__name__)

MSG_ID = "Nats-Msg-Id"
PUBLISH_TIMEOUT_S = 2.0
BACKOFF_S = (0.1, 0.25, 0.5, 1.0, 2.0)
_RETRYABLE = (nats.errors.Error, OSError, TimeoutError)

_written = CONVLOG_RECORDS.labels("written")
_dropped = CONVLOG_RECORDS.labels("dropped")
_rejected = CONVLOG_RECORDS.labels("rejected")


class LogWriter:
    """One per process; `start` it once, `write` from anywhere on the loop, `close` at shutdown."""

    def __init__(self, js: JetStreamContext, settings: ConvlogSettings) -> None:
        self._js = js
        self._settings = settings
        self._bound = settings.convlog_buffer
        self._buffer: deque[tuple[str, str, bytes]] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    async def start(self) -> None:
        """Create (or update) the stream, then start publishing. A NATS without JetStream does not stop the
        service: records wait in the buffer and the stream is created once JetStream answers."""
        try:
            await ensure_stream(self._js, self._settings)
        except _RETRYABLE as exc:
            log.warning("convlog_stream_unavailable", error=str(exc) or type(exc).__name__)
        self._task = asyncio.create_task(self._run())

    def write(self, record: AnyRecord) -> bool:
        """Queue one record (never blocks); False when the buffer is full and the record was dropped."""
        if len(self._buffer) >= self._bound:
            _dropped.inc()
            return False
        if isinstance(record, TurnRecord) and self._settings.convlog_redact_digits:
            record = mask_turn(record)
        self._buffer.append((subjects.convlog(record.session_id), record.msg_id(), encoder.encode(record)))
        CONVLOG_BUFFERED.set(len(self._buffer))
        self._wake.set()
        return True

    async def close(self, timeout_s: float = 2.0) -> None:
        """Publish what is buffered (bounded by `timeout_s`); what is left is counted as dropped."""
        if self._task is None:
            return
        deadline = asyncio.get_running_loop().time() + timeout_s
        while self._buffer and asyncio.get_running_loop().time() < deadline and not self._failing:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        _dropped.inc(len(self._buffer))
        self._buffer.clear()
        CONVLOG_BUFFERED.set(0)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            attempt = 0
            while self._buffer:
                if await self._publish_first():
                    attempt = 0
                    continue
                await asyncio.sleep(BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)])
                attempt += 1

    async def _publish_first(self) -> bool:
        """Publish the oldest record; True when it is done with (stored, a duplicate, or refused for good)."""
        subject, msg_id, payload = self._buffer[0]
        try:
            await self._js.publish(subject, payload, timeout=PUBLISH_TIMEOUT_S, headers={MSG_ID: msg_id})
        except nats.js.errors.BadRequestError as exc:
            log.warning("convlog_record_rejected", error=exc.description)
            _rejected.inc()
        except nats.js.errors.NoStreamResponseError:
            self._note_failure("no stream")
            with contextlib.suppress(*_RETRYABLE):
                await ensure_stream(self._js, self._settings)
            return False
        except _RETRYABLE as exc:
            self._note_failure(str(exc) or type(exc).__name__)
            return False
        else:
            _written.inc()
            if self._failing:
                self._failing = False
                log.info("convlog_writes_resumed", buffered=len(self._buffer))
        self._buffer.popleft()
        CONVLOG_BUFFERED.set(len(self._buffer))
        return True

    def _note_failure(self, error: str) -> None:
        """Logged once per outage, not once per retry."""
        if not self._failing:
            self._failing = True
            log.warning("convlog_writes_failing", error=error, buffered=len(self._buffer))
