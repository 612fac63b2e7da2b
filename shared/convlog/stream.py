"""The conversation log stream on JetStream: created idempotently at start, read back and erased per session.

One stream (`subjects.CONVLOG_STREAM`, file storage) holds every record; each session writes to its own subject
(`subjects.convlog(session_id)`), so a session is read back with `next_by_subj` lookups and erased with a purge by
subject. Retention is by age and size (settings), oldest first; `Nats-Msg-Id` headers within the duplicate window
make a retried write a no-op. docs/conversation_log.md describes all of it.
"""

import datetime
from collections.abc import AsyncIterator

import msgspec
import nats.errors
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy, DiscardPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError

from shared import subjects
from shared.convlog.records import AnyRecord, decoder
from shared.logs import get_logger
from shared.settings import ConvlogSettings

log = get_logger(__name__)

DUPLICATE_WINDOW_S = 120.0
STREAM_IN_USE = 10058  # JetStream: the stream exists with another configuration


def stream_config(settings: ConvlogSettings) -> StreamConfig:
    return StreamConfig(
        name=subjects.CONVLOG_STREAM,
        description="voicechat conversation log (docs/conversation_log.md)",
        subjects=[subjects.CONVLOG_ALL],
        storage=StorageType.FILE,
        num_replicas=settings.convlog_replicas,
        max_age=settings.convlog_max_age_days * 86400,
        max_bytes=settings.convlog_max_bytes,
        discard=DiscardPolicy.OLD,
        duplicate_window=DUPLICATE_WINDOW_S,
        allow_direct=True,
    )


async def ensure_stream(js: JetStreamContext, settings: ConvlogSettings) -> None:
    """Create the stream, or bring an existing one to the configured retention and replicas (idempotent)."""
    config = stream_config(settings)
    try:
        await js.add_stream(config)
    except BadRequestError as exc:
        if exc.err_code != STREAM_IN_USE:
            raise
        await js.update_stream(config)
        log.info("convlog_stream_updated", replicas=settings.convlog_replicas)


def _decode(data: bytes | None) -> AnyRecord | None:
    try:
        record: AnyRecord = decoder.decode(data or b"")
        return record
    except msgspec.DecodeError:
        log.warning("convlog_record_invalid")
        return None


async def read_session(js: JetStreamContext, session_id: str) -> list[AnyRecord]:
    """Every record of one session, oldest first (empty when there is none, or it was erased)."""
    subject = subjects.convlog(session_id)
    records: list[AnyRecord] = []
    seq = 1
    while True:
        try:
            raw = await js.get_msg(subjects.CONVLOG_STREAM, seq=seq, subject=subject, next=True)
        except NotFoundError:
            return records
        record = _decode(raw.data)
        if record is not None:
            records.append(record)
        seq = (raw.seq or seq) + 1


async def erase_session(js: JetStreamContext, session_id: str) -> None:
    """Remove every record of one session from the stream (right to erasure)."""
    await js.purge_stream(subjects.CONVLOG_STREAM, subject=subjects.convlog(session_id))


async def read_range(
    js: JetStreamContext, since: datetime.datetime, until: datetime.datetime, idle_s: float = 5.0
) -> AsyncIterator[AnyRecord]:
    """Every record stored from `since` (inclusive) to `until` (exclusive), in stream order.

    An ordered consumer starting at `since` reads up to the last message there was when the export began."""
    try:
        state = (await js.stream_info(subjects.CONVLOG_STREAM)).state
    except NotFoundError:
        return  # nothing was ever logged
    if not state.messages or await _last_before(js, state.last_seq, since):
        return
    sub = await js.subscribe(
        subjects.CONVLOG_ALL,
        stream=subjects.CONVLOG_STREAM,
        ordered_consumer=True,
        deliver_policy=DeliverPolicy.BY_START_TIME,
        config=ConsumerConfig(opt_start_time=since),
    )
    try:
        while True:
            try:
                msg = await sub.next_msg(timeout=idle_s)
            except nats.errors.TimeoutError:
                return  # the range ends before the stream does, or it was purged meanwhile
            meta = msg.metadata
            if meta.timestamp >= until:
                return
            record = _decode(msg.data)
            if record is not None:
                yield record
            if meta.sequence.stream >= state.last_seq:
                return
    finally:
        await sub.unsubscribe()


async def _last_before(js: JetStreamContext, last_seq: int, since: datetime.datetime) -> bool:
    """The stream's last message is older than `since` (then a consumer from `since` would only wait)."""
    try:
        last = await js.get_msg(subjects.CONVLOG_STREAM, seq=last_seq)
    except NotFoundError:
        return False
    return last.time is not None and last.time < since
