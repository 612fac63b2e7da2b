"""Epoch fencing in a worker (shared/session_worker.py) on a real nats-server: the worker takes a session under
the claim's epoch, drops messages of older epochs, refuses stale claims, and lets go on a newer epoch."""

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout

from shared import bus, subjects
from shared.epochs import EpochFilter
from shared.metrics import STALE_EPOCH
from shared.runtime import ServiceContext
from shared.session_worker import MsgHandler, SessionWorker
from shared.settings import DialogSettings

SID = "d" * 32


@dataclass
class Recorder:
    fence: EpochFilter
    frames: list[int] = field(default_factory=list)
    controls: list[bus.Control] = field(default_factory=list)
    closed: bool = False
    finishes: int = 0
    turn_over: asyncio.Event = field(default_factory=asyncio.Event)  # set: nothing runs

    def extra_subscriptions(self) -> dict[str, MsgHandler]:
        return {}

    async def on_audio(self, seq: int, pcm: bytes, msg: Msg) -> None:
        self.frames.append(seq)

    async def on_control(self, message: bus.Control) -> None:
        self.controls.append(message)

    def confirm(self) -> None:
        """Nothing to do."""

    async def finish(self, grace_s: float) -> None:
        """Waits for `turn_over` (the running turn's end)."""
        self.finishes += 1
        await self.turn_over.wait()

    async def close(self) -> None:
        self.closed = True


frames_of = {"audio": subjects.audio, "turn_audio": subjects.all_turn_audio}


@pytest.fixture(params=["audio", "turn_audio"])
async def worker(nc: NATS, request: pytest.FixtureRequest) -> AsyncIterator[tuple[SessionWorker, list[Recorder]]]:
    """A dialog worker that hears the session's audio, or only the turn audio the VAD forwards (docs/audio_path.md):
    its frames are fenced alike."""
    made: list[Recorder] = []

    def factory(claim: bus.Claim, fence: EpochFilter) -> Recorder:
        made.append(Recorder(fence))
        made[-1].turn_over.set()
        return made[-1]

    ctx = ServiceContext(name="dialog_worker", settings=DialogSettings(), nc=nc)
    running = SessionWorker(ctx, "dialog", factory, frames_of[request.param])
    await running.start()
    yield running, made
    await running.drain(0.0)
    await nc.jetstream().delete_key_value(subjects.WORKERS_BUCKET)


def frame_subject(running: SessionWorker) -> str:
    """Where frames reach `running`: the session's audio, or an utterance of its turn audio."""
    return subjects.audio(SID) if running.audio_of is subjects.audio else subjects.turn_audio(SID, 4)


async def claim(nc: NATS, epoch: int, direct: bool = False) -> str | None:
    payload = bus.encoder.encode(bus.Claim(session_id=SID, epoch=epoch))
    subject = subjects.session_claim(SID, "dialog") if direct else subjects.claim("dialog")
    try:
        reply = await nc.request(subject, payload, timeout=0.5)
    except NatsTimeout:
        return None
    return bus.claimed_decoder.decode(reply.data).worker_id


async def settle(nc: NATS) -> None:
    await nc.flush()
    await asyncio.sleep(0.2)


def stale_count() -> float:
    value: float = STALE_EPOCH.labels("dialog")._value.get()
    return value


async def test_messages_of_an_older_epoch_are_dropped_and_counted(
    nc: NATS, worker: tuple[SessionWorker, list[Recorder]]
) -> None:
    running, made = worker
    assert await claim(nc, 3) == running.worker_id
    [handler] = made
    assert handler.fence.epoch == 3
    before = stale_count()
    other = subjects.audio(SID) if running.audio_of is not subjects.audio else subjects.turn_audio(SID, 4)
    await nc.publish(other, bus.pack_frame(5, b"\x00\x00", vad_epoch=9, dialog_epoch=3))  # not its frames
    await nc.publish(frame_subject(running), bus.pack_frame(1, b"\x00\x00", vad_epoch=9, dialog_epoch=2))
    await nc.publish(frame_subject(running), bus.pack_frame(2, b"\x00\x00", vad_epoch=9, dialog_epoch=3))
    await nc.publish(subjects.control(SID), bus.encoder.encode(bus.ControlBargeIn(epoch=2)))
    await nc.publish(subjects.control(SID), bus.encoder.encode(bus.ControlText(text="hi", epoch=3)))
    await settle(nc)
    assert handler.frames == [2]
    assert handler.controls == [bus.ControlText(text="hi", epoch=3)]
    assert stale_count() - before == 2


async def test_a_claim_under_a_superseded_epoch_is_refused(
    nc: NATS, worker: tuple[SessionWorker, list[Recorder]]
) -> None:
    running, made = worker
    assert await claim(nc, 5) == running.worker_id
    assert await claim(nc, 4, direct=True) is None
    assert await claim(nc, 6, direct=True) == running.worker_id
    assert made[0].fence.epoch == 6 and len(made) == 1


async def test_a_message_of_a_newer_epoch_makes_the_owner_let_go(
    nc: NATS, worker: tuple[SessionWorker, list[Recorder]]
) -> None:
    running, made = worker
    await claim(nc, 1)
    await nc.publish(frame_subject(running), bus.pack_frame(1, b"\x00\x00", dialog_epoch=2))
    await settle(nc)
    assert made[0].closed and SID not in running.sessions


async def test_an_announcement_of_another_owner_counts_only_when_not_stale(
    nc: NATS, worker: tuple[SessionWorker, list[Recorder]]
) -> None:
    running, made = worker
    await claim(nc, 4)
    stale = bus.ControlOwner(kind="dialog", worker_id="dialog-other", epoch=3)
    await nc.publish(subjects.control(SID), bus.encoder.encode(stale))
    await settle(nc)
    assert SID in running.sessions
    newer = bus.ControlOwner(kind="dialog", worker_id="dialog-other", epoch=4)
    await nc.publish(subjects.control(SID), bus.encoder.encode(newer))
    await settle(nc)
    assert SID not in running.sessions and made[0].closed


async def test_a_draining_owner_finishes_a_moved_session_hearing_its_audio_and_retires_it_once(
    nc: NATS, worker: tuple[SessionWorker, list[Recorder]]
) -> None:
    running, made = worker
    await claim(nc, 1)
    [handler] = made
    handler.turn_over.clear()  # a turn runs: the speech it listens to goes on in frames of the new owner's epoch
    draining = asyncio.create_task(running.drain(5.0))
    try:
        for seq in (1, 2, 3):
            await nc.publish(frame_subject(running), bus.pack_frame(seq, b"\x00\x00", dialog_epoch=2))
        await settle(nc)
        assert handler.frames == [1, 2, 3] and handler.finishes == 1 and not handler.closed
    finally:
        handler.turn_over.set()
    await asyncio.wait_for(draining, 10)
    assert handler.closed and SID not in running.sessions
