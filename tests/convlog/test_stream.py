"""The conversation log stream on a real nats-server: created idempotently, written once per fact, read back per
session and by time, erased per session."""

import asyncio
import datetime

import pytest
from nats.aio.client import Client as NATS
from nats.js.api import StorageType

from harness.nats_server import NatsServer
from shared import subjects
from shared.convlog.records import SessionEnded, SessionStarted, TurnRecord
from shared.convlog.stream import ensure_stream, erase_session, read_range, read_session
from shared.convlog.writer import LogWriter
from shared.metrics import CONVLOG_RECORDS
from shared.settings import ConvlogSettings
from tests.convlog.conftest import new_session, started, turn

DAY = 86400


async def written(writer: LogWriter) -> None:
    for _ in range(200):
        if writer.buffered == 0:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{writer.buffered} records still buffered")


async def test_stream_is_created_once_and_follows_the_settings(client: NATS) -> None:
    js = client.jetstream()
    await ensure_stream(js, ConvlogSettings())
    await ensure_stream(js, ConvlogSettings())  # idempotent: the same configuration again is fine
    info = await js.stream_info(subjects.CONVLOG_STREAM)
    assert info.config.storage == StorageType.FILE
    assert info.config.num_replicas == 1
    assert info.config.max_age == 30 * DAY
    assert info.config.subjects == [subjects.CONVLOG_ALL]
    assert info.config.duplicate_window == 120
    await ensure_stream(js, ConvlogSettings(convlog_max_age_days=7, convlog_max_bytes=64 * 1024 * 1024))
    info = await js.stream_info(subjects.CONVLOG_STREAM)
    assert (info.config.max_age, info.config.max_bytes) == (7 * DAY, 64 * 1024 * 1024)


async def test_each_fact_is_stored_once_even_when_written_twice(client: NATS) -> None:
    js = client.jetstream()
    writer = LogWriter(js, ConvlogSettings())
    await writer.start()
    session = new_session()
    start, first = started(session, subject="shopper-1"), turn(session, 1)
    for record in (start, first, first, start, turn(session, 2)):
        assert writer.write(record)
    await written(writer)
    records = await read_session(js, session)
    assert [type(r).__name__ for r in records] == ["SessionStarted", "TurnRecord", "TurnRecord"]
    assert [r.turn_id for r in records if isinstance(r, TurnRecord)] == [1, 2]
    assert records[0] == start
    await writer.close()


async def test_a_session_is_read_back_alone_and_erased_alone(client: NATS) -> None:
    js = client.jetstream()
    writer = LogWriter(js, ConvlogSettings())
    await writer.start()
    mine, other = new_session(), new_session()
    for session in (mine, other):
        writer.write(started(session))
        writer.write(turn(session, 1, transcript=f"hello from {session[:4]}"))
    await written(writer)
    assert {r.session_id for r in await read_session(js, mine)} == {mine}
    await erase_session(js, mine)
    assert await read_session(js, mine) == []
    assert len(await read_session(js, other)) == 2
    assert await read_session(js, new_session()) == []
    await writer.close()


async def test_digits_are_masked_before_they_are_stored(client: NATS) -> None:
    js = client.jetstream()
    for redact, expected in ((True, "call ### ### ####"), (False, "call 555 123 4567")):
        writer = LogWriter(js, ConvlogSettings(convlog_redact_digits=redact))
        await writer.start()
        session = new_session()
        writer.write(turn(session, 1, transcript="call 555 123 4567"))
        await written(writer)
        (record,) = await read_session(js, session)
        assert isinstance(record, TurnRecord) and record.transcript == expected
        await writer.close()


async def test_a_time_range_is_read_in_order(client: NATS) -> None:
    js = client.jetstream()
    writer = LogWriter(js, ConvlogSettings())
    await writer.start()
    before = datetime.datetime.now(datetime.UTC)
    await asyncio.sleep(0.05)
    session = new_session()
    writer.write(started(session))
    writer.write(turn(session, 1))
    await written(writer)
    middle = datetime.datetime.now(datetime.UTC)
    await asyncio.sleep(0.05)
    writer.write(SessionEnded(session_id=session, at=0.0, connection="c"))
    await written(writer)
    after = datetime.datetime.now(datetime.UTC)
    everything = [type(r).__name__ async for r in read_range(js, before, after)]
    assert everything == ["SessionStarted", "TurnRecord", "SessionEnded"]
    assert [type(r).__name__ async for r in read_range(js, before, middle)] == ["SessionStarted", "TurnRecord"]
    assert [type(r).__name__ async for r in read_range(js, middle, after)] == ["SessionEnded"]
    assert [r async for r in read_range(js, after, after + datetime.timedelta(hours=1))] == []
    await writer.close()


async def test_nothing_logged_yet_reads_as_empty(client: NATS) -> None:
    js = client.jetstream()
    now = datetime.datetime.now(datetime.UTC)
    assert [r async for r in read_range(js, now - datetime.timedelta(days=1), now)] == []


@pytest.mark.parametrize("bound", [3])
async def test_jetstream_outage_never_blocks_and_drops_past_the_bound(
    client: NATS, server: NatsServer, bound: int
) -> None:
    js = client.jetstream()
    writer = LogWriter(js, ConvlogSettings(convlog_buffer=bound))
    await writer.start()
    session = new_session()
    writer.write(started(session))
    await written(writer)
    dropped = CONVLOG_RECORDS.labels("dropped")._value.get()
    server.stop()
    loop = asyncio.get_running_loop()
    began = loop.time()
    accepted = [writer.write(turn(session, n)) for n in range(1, 11)]
    assert loop.time() - began < 0.05  # write never waits for JetStream
    assert accepted == [True] * bound + [False] * (10 - bound)
    assert CONVLOG_RECORDS.labels("dropped")._value.get() - dropped == 10 - bound
    await asyncio.sleep(1.0)  # the writer retries meanwhile; records stay buffered
    assert writer.buffered == bound
    server.start()
    await written(writer)
    records = await read_session(js, session)
    assert [r.turn_id for r in records if isinstance(r, TurnRecord)] == list(range(1, bound + 1))
    assert isinstance(records[0], SessionStarted)
    await writer.close()
