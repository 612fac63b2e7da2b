"""Turn audio through the real stack (gateway and VAD worker as processes, a real nats-server): the audio a dialog
session hands to each turn's stream is exactly the audio the client sent, a contiguous run of it from the pre-roll
before the speech start to the speech end, once and in order; it travels in chunks of consecutive frames, the VAD's
speech end after every frame heard up to the one that decided it; and the VAD worker forwards no audio between
turns.

The dialog worker runs in the test (its session worker and `DialogSession`, the code of `python -m dialog_worker`)
with turns that record what their stream gets instead of calling Dialogflow: this tests the hand-over of the audio,
which is the dialog worker's side of the bus; tests/integration/test_dialog_turns.py covers the same path through
the real agent."""

import asyncio
from collections.abc import AsyncIterator, Iterator

import aiohttp
import nats
import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from dialog_worker.session import DialogSession
from dialog_worker.turn_api import Spoken, TurnSink, TurnStart
from dialog_worker.turn_log import TurnLog
from harness.procs import wait_http
from harness.speech import frames, speech_bounds_ms, utterance
from harness.stack import Stack, running_stack
from shared import bus, subjects
from shared.audio import FRAME_BYTES, FRAME_MS
from shared.epochs import EpochFilter
from shared.publish_batch import PublishBatch
from shared.runtime import ServiceContext
from shared.session_worker import SessionWorker
from shared.settings import DialogSettings, VadSettings
from vad_worker.smoother import SpeechEnd
from vad_worker.turn_audio import UTTERANCES_PER_EPOCH, TurnAudioForwarder
from vad_worker.worker import WebrtcSession, make_detector
from voice_client.recorder import connect

RATE = 16000
BYTES_PER_MS = RATE * 2 // 1000


class RecordedTurn:
    """A turn whose stream records its audio: the pre-roll, then what it is fed until its input ends."""

    def __init__(self, start: TurnStart) -> None:
        assert isinstance(start, Spoken)
        self.audio = bytearray(b"".join(start.preroll))
        self.preroll_bytes = len(self.audio)
        self.ended = asyncio.Event()

    def feed(self, pcm: bytes) -> None:
        if not self.ended.is_set():
            self.audio += pcm

    def end_input(self) -> None:
        self.ended.set()

    def cancel(self) -> None:
        self.ended.set()

    async def wait(self, grace_s: float) -> None:
        """Nothing runs."""


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with running_stack(("vad_worker", "gateway"), env={"VOICECHAT_TURN_AUDIO": "true"}) as running:
        yield running


@pytest.fixture
async def turns(stack: Stack) -> AsyncIterator[list[RecordedTurn]]:
    settings = DialogSettings(nats_url=stack.nats.url, turn_audio=True, convlog_enabled=False)
    nc = await nats.connect(stack.nats.url)
    recorded: list[RecordedTurn] = []

    def new_turn(sink: TurnSink, log: TurnLog, start: TurnStart) -> RecordedTurn:
        recorded.append(RecordedTurn(start))
        return recorded[-1]

    def new_session(claim: bus.Claim, fence: EpochFilter) -> DialogSession:
        return DialogSession(nc, settings, claim, fence, new_turn)

    worker = SessionWorker(
        ServiceContext("dialog_worker", settings, nc), "dialog", new_session, subjects.all_turn_audio
    )
    await worker.start()
    await asyncio.to_thread(wait_http, stack.gateway.base_url + "/readyz")
    yield recorded
    await worker.drain(0.0)
    await nc.close()


def located(sent: bytes, turn: RecordedTurn) -> int:
    """Where the turn's audio lies in what was sent (a frame boundary), or fail: its speech is found in one piece."""
    at = sent.find(bytes(turn.audio))
    assert at >= 0, "the stream's audio is not one contiguous run of the audio sent"
    assert at % FRAME_BYTES == 0
    return at


async def test_each_turn_gets_the_audio_sent_once_in_order(
    stack: Stack, turns: list[RecordedTurn], http: aiohttp.ClientSession
) -> None:
    client = await connect(http, stack.gateway.base_url)
    session_id = client.start["session_id"]
    forwarded: list[int] = []
    chunk_sizes: list[int] = []
    last_forwarded_at_end: list[int] = []  # the newest frame forwarded when each VAD speech end went by

    async def on_session_message(msg: Msg) -> None:
        """One subscription to the whole session, so messages come in the order each publisher sent them."""
        if msg.subject.startswith(subjects.all_turn_audio(session_id)[:-1]):
            seq, _, pcm = bus.unpack_frame(msg.data)
            chunk = [frame_seq for frame_seq, _ in bus.frames_of(seq, pcm)]
            assert chunk == list(range(seq, seq + len(chunk)))
            forwarded.extend(chunk)
            chunk_sizes.append(len(chunk))
        elif msg.subject == subjects.vad(session_id) and isinstance(
            bus.vad_decoder.decode(msg.data), bus.VadSpeechEnded
        ):
            last_forwarded_at_end.append(forwarded[-1])

    watcher = await nats.connect(stack.nats.url)
    await watcher.subscribe(subjects.all_of_session(session_id), cb=on_session_message)
    first = utterance("show me running shoes under fifty dollars", RATE, "en-us+f2", lead_ms=600, tail_ms=1500)
    second = utterance("do you have any sunglasses", RATE, "en-gb-x-rp", lead_ms=300, tail_ms=1200)
    sent = b"".join(frames(first, RATE) + frames(second, RATE))
    await client.stream(frames(first, RATE) + frames(second, RATE))
    ended = await client.wait_for(lambda e: e["type"] == "speech_ended" and e["turn_id"] == 2, timeout=5)
    started = [event["offset_ms"] for event in client.events if event["type"] == "speech_started"]
    ended_ms = [event["offset_ms"] for event in client.events if event["type"] == "speech_ended"]
    assert len(turns) == 2 and ended["turn_id"] == 2 and len(started) == 2, client.events
    for turn, start_ms, end_ms in zip(turns, started, ended_ms, strict=True):
        await asyncio.wait_for(turn.ended.wait(), 5)
        at = located(sent, turn)
        assert turn.preroll_bytes > 0  # the pre-roll came first, from before the VAD noticed the speech
        assert at / BYTES_PER_MS <= start_ms
        assert (at + len(turn.audio)) / BYTES_PER_MS >= end_ms
    true_start, true_end = speech_bounds_ms(first, RATE)
    assert located(sent, turns[0]) / BYTES_PER_MS <= true_start <= true_end <= ended_ms[0] + 150
    await client.close()
    await watcher.flush()
    await watcher.close()
    unforwarded_ms = (len(sent) // FRAME_BYTES - len(set(forwarded))) * FRAME_MS
    assert unforwarded_ms >= 1000, unforwarded_ms  # the silence before, between and after the turns stayed home
    chunk_frames = VadSettings().turn_audio_chunk_ms // FRAME_MS
    assert max(chunk_sizes) == chunk_frames and chunk_sizes.count(chunk_frames) > len(chunk_sizes) / 2, chunk_sizes
    assert last_forwarded_at_end == deciding_frames(sent, SpeechEnd)  # the held frames went out before the end


def deciding_frames(sent: bytes, kind: type) -> list[int]:
    """The frames at which the VAD worker's detector (same settings, same frames) decides events of `kind`."""
    detector = make_detector(VadSettings())
    decided = []
    for seq in range(len(sent) // FRAME_BYTES):
        events = detector.feed(seq, sent[seq * FRAME_BYTES : (seq + 1) * FRAME_BYTES])
        decided += [seq for event in events if isinstance(event, kind)]
    return decided


async def test_the_vad_side_forwards_from_the_preroll_until_the_current_dialog_owner_closes(nc: NATS) -> None:
    """The forwarder on a real nats-server: pre-roll then live frames, unchanged; a close of an older utterance or
    from an older dialog owner changes nothing; the current close stops it; the length cap stops it too."""
    session_id = "e" * 32
    got: list[tuple[int, bytes]] = []

    async def on_frame(msg: Msg) -> None:
        got.append((subjects.utterance_of(msg.subject), msg.data))

    await nc.subscribe(subjects.all_turn_audio(session_id), cb=on_frame)
    forwarder = TurnAudioForwarder(
        PublishBatch(nc, 0.0), session_id, preroll_ms=3 * FRAME_MS, max_s=0.2, epoch=2, chunk_ms=FRAME_MS
    )
    sent = [bus.pack_frame(seq, bytes([seq]) * FRAME_BYTES, vad_epoch=2, dialog_epoch=5) for seq in range(16)]

    async def hear(seqs: range) -> None:
        for seq in seqs:
            await forwarder.frame(seq, sent[seq])
        await nc.flush()
        await asyncio.sleep(0.05)

    await hear(range(4))
    assert got == []  # nothing leaves before a speech start
    first = await forwarder.start()
    await hear(range(4, 6))
    assert first == 2 * UTTERANCES_PER_EPOCH + 1
    assert got == [(first, frame) for frame in sent[1:6]]  # the pre-roll (3 frames), then live frames
    second = await forwarder.start()  # a speech start while forwarding: the next utterance, pre-roll again
    forwarder.close(bus.TurnAudioClosed(utterance=first, epoch=5))  # crossed the new start: ignored
    forwarder.close(bus.TurnAudioClosed(utterance=second, epoch=4))  # an older dialog owner's: ignored
    await hear(range(6, 7))
    assert got[5:] == [(second, frame) for frame in sent[3:7]]
    forwarder.close(bus.TurnAudioClosed(utterance=second, epoch=5))
    await hear(range(7, 8))
    assert len(got) == 9
    third = await forwarder.start()
    await hear(range(8, 12))  # the cap (0.2 s: 10 frames) outlasts the pre-roll and these
    assert [data for utterance, data in got if utterance == third] == sent[5:12]
    await hear(range(12, 16))  # the cap: 3 more frames reach 10, then forwarding stops
    assert [data for utterance, data in got if utterance == third] == sent[5:15]


async def test_the_vad_side_sends_turn_audio_in_chunks_of_consecutive_frames(nc: NATS) -> None:
    """The forwarder on a real nats-server, 5 frames per message: the pre-roll goes at once; a gap in the sequence
    numbers or another epoch starts a new chunk; a flush sends what is held, a close drops it, a new speech start
    sends it under the old utterance first; cut back into frames, each message holds exactly the frames sent."""
    session_id = "f" * 32
    got: list[tuple[int, list[bytes]]] = []

    async def on_chunk(msg: Msg) -> None:
        seq, epochs, pcm = bus.unpack_frame(msg.data)
        frames = [bus.pack_frame(frame_seq, frame, *epochs) for frame_seq, frame in bus.frames_of(seq, pcm)]
        got.append((subjects.utterance_of(msg.subject), frames))

    await nc.subscribe(subjects.all_turn_audio(session_id), cb=on_chunk)
    forwarder = TurnAudioForwarder(
        PublishBatch(nc, 0.0), session_id, preroll_ms=7 * FRAME_MS, max_s=10, epoch=1, chunk_ms=5 * FRAME_MS
    )
    sent = [bus.pack_frame(seq, bytes([seq]) * FRAME_BYTES, vad_epoch=1, dialog_epoch=5) for seq in range(40)]
    sent[21] = bus.pack_frame(21, bytes([21]) * FRAME_BYTES, vad_epoch=1, dialog_epoch=6)

    async def hear(seqs: list[int]) -> list[tuple[int, list[bytes]]]:
        before = len(got)
        for seq in seqs:
            await forwarder.frame(seq, sent[seq])
        await nc.flush()
        await asyncio.sleep(0.05)
        return got[before:]

    assert await hear(list(range(7))) == []
    first = await forwarder.start()
    assert await hear([]) == [(first, sent[0:5]), (first, sent[5:7])]  # the pre-roll, at once
    assert await hear(list(range(7, 19))) == [(first, sent[7:12]), (first, sent[12:17])]  # 17, 18 held
    await forwarder.flush()
    assert await hear([19, 20, 21]) == [(first, sent[17:19]), (first, sent[19:21])]  # epoch 6: a new chunk
    assert await hear([23]) == [(first, sent[21:22])]  # 22 never came: a new chunk
    second = await forwarder.start()  # what was held goes first, then the pre-roll (16-21, 23) in its own chunks
    assert await hear([]) == [(first, [sent[23]]), (second, sent[16:21]), (second, [sent[21]]), (second, [sent[23]])]
    assert await hear([24, 25]) == []
    forwarder.close(bus.TurnAudioClosed(utterance=second, epoch=6))
    await forwarder.flush()
    assert await hear([26]) == []  # the close dropped 24 and 25


async def test_a_vad_session_that_closes_sends_the_turn_audio_it_holds(nc: NATS) -> None:
    """A VAD session released in the middle of a chunk (its owner moves or stops) sends the frames it held, so the
    dialog side gets the utterance up to the last frame the VAD heard."""
    session_id = "d" * 32
    got: list[int] = []

    async def on_chunk(msg: Msg) -> None:
        seq, _, pcm = bus.unpack_frame(msg.data)
        got.extend(frame_seq for frame_seq, _ in bus.frames_of(seq, pcm))

    await nc.subscribe(subjects.all_turn_audio(session_id), cb=on_chunk)
    settings = VadSettings(nats_url="nats://unused", preroll_ms=2 * FRAME_MS, turn_audio_chunk_ms=5 * FRAME_MS)
    session = WebrtcSession(PublishBatch(nc, 0.0), settings, bus.Claim(session_id=session_id), EpochFilter(epoch=1))
    silence = [bus.pack_frame(seq, bytes(FRAME_BYTES), vad_epoch=1, dialog_epoch=1) for seq in range(5)]
    subject = subjects.audio(session_id)

    async def settled() -> list[int]:
        await nc.flush()
        await asyncio.sleep(0.05)
        return got

    async def hear(seqs: range) -> None:
        for seq in seqs:
            await session.on_audio(seq, bytes(FRAME_BYTES), Msg(nc, subject=subject, data=silence[seq]))

    await hear(range(2))
    await session.on_control(bus.ControlStartSpeaking())  # the client's start: forwarding begins, pre-roll first
    await hear(range(2, 5))
    assert await settled() == [0, 1]  # the pre-roll went at once; 2-4 are held for a chunk of 5
    await session.close()
    assert await settled() == [0, 1, 2, 3, 4]
