"""Turn ends are total (dialog_worker/cx_turn.py, dialog_worker/session.py): whatever fails at whatever point of a
turn's life (the agent, our code, NATS refusing an event), the turn ends with exactly one of `audio_end`,
`interrupted` or an `error` that fails it, nothing of it follows that, and the session listens again.

A unit test of our fault paths: the real session, turn machine, `CxTurn`, stream, tool call and pacing, with a fake
Dialogflow client and a fake NATS connection that raise at a step hypothesis picks (the rest of the suite talks to
the real local agent and a real nats-server). Also: the bounded turn audio queue, and VAD events of an older epoch.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

import msgspec
import pytest
from google.api_core.exceptions import InternalServerError, ServiceUnavailable
from google.cloud import dialogflowcx_v3 as cx
from hypothesis import given, settings
from hypothesis import strategies as st
from nats.errors import OutboundBufferLimitError

from dialog_worker import cx_stream
from dialog_worker import session as session_module
from dialog_worker.cx_calls import CxDeps
from dialog_worker.cx_turn import CxTurn
from dialog_worker.session import DialogSession
from dialog_worker.turns import Phase
from gateway.turns import TurnTracker
from shared import bus, subjects
from shared.epochs import EpochFilter
from shared.metrics import STALE_EPOCH, TURN_AUDIO_OVERFLOWS
from shared.protocol import ends_turn, server_decoder
from shared.settings import DialogSettings

FRAME = b"\x01\x00" * 320  # 20 ms of 16 kHz audio
FRAMES = 40
STEPS = 24  # steps of the longest turn drawn (spoken, a tool call, the answer after it), the next speech start
SESSION = "projects/p/locations/global/agents/a/sessions/s"
make_request = cx_stream._audio_request
FAULTS: dict[str, type[Exception]] = {
    "unavailable": ServiceUnavailable,  # retried once at the start, fails the turn after an answer began
    "internal": InternalServerError,
    "bug": RuntimeError,  # a non-Google exception anywhere (our code, the request generator, a tool call, pacing)
    "nats": OutboundBufferLimitError,  # NATS refusing a publish or a request
}


class Injected:
    """Counts the steps of a turn's life; raises the chosen exception at step `at` (once)."""

    def __init__(self, at: int | None, kind: str) -> None:
        self.at = at
        self.kind = kind
        self.count = 0
        self.armed = True

    def step(self) -> None:
        self.count += 1
        if self.armed and self.count == self.at:
            self.armed = False
            raise FAULTS[self.kind]("injected")


@dataclass
class Reply:
    data: bytes
    headers: dict[str, str] | None = None


@dataclass
class FakeNats:
    faults: Injected
    published: list[tuple[str, bytes]] = field(default_factory=list)

    async def publish(self, subject: str, payload: bytes, headers: dict[str, str] | None = None) -> None:
        self.faults.step()
        self.published.append((subject, payload))

    async def request(self, subject: str, payload: bytes, **_: Any) -> Reply:
        self.faults.step()
        return Reply(b'{"products": []}')


def answer(text: str, tool: bool) -> cx.DetectIntentResponse:
    messages = [cx.ResponseMessage(text=cx.ResponseMessage.Text(text=[text]))]
    if tool:
        call = cx.ToolCall(tool="projects/p/locations/global/agents/a/tools/t", action="search_products")
        messages = [cx.ResponseMessage(tool_call=call)]
    result = cx.QueryResult(
        match=cx.Match(intent=cx.Intent(display_name="search_products"), confidence=0.9),
        response_messages=messages,
        transcript="show me shoes",
    )
    return cx.DetectIntentResponse(
        query_result=result,
        output_audio=FRAME * 10,  # 200 ms: paced without waiting
        response_type=cx.DetectIntentResponse.ResponseType.FINAL,
    )


@dataclass
class FakeAgent:
    """Speaks the `StreamingDetectIntent` / `DetectIntent` protocol of the real client's async surface."""

    faults: Injected
    tool: bool
    final: bool  # False: the stream ends without a FINAL response

    async def streaming_detect_intent(self, requests: AsyncIterator[Any], **_: Any) -> AsyncIterator[Any]:
        self.faults.step()
        return self._responses(requests)

    async def _responses(self, requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
        Kind = cx.StreamingRecognitionResult.MessageType
        pulled = 0
        async for _ in requests:
            self.faults.step()
            pulled += 1
            if pulled == 3:  # config, then two batches of audio: the user is still speaking
                yield self._recognition(Kind.TRANSCRIPT, "show me")
                yield self._recognition(Kind.END_OF_SINGLE_UTTERANCE)  # the session ends the input
        self.faults.step()
        yield self._recognition(Kind.TRANSCRIPT, "show me shoes", final=True)
        if self.final:
            self.faults.step()
            yield cx.StreamingDetectIntentResponse(detect_intent_response=answer("Here you go.", self.tool))

    def _recognition(self, kind: Any, text: str = "", final: bool = False) -> cx.StreamingDetectIntentResponse:
        self.faults.step()
        result = cx.StreamingRecognitionResult(message_type=kind, transcript=text, is_final=final)
        return cx.StreamingDetectIntentResponse(recognition_result=result)

    async def detect_intent(self, request: cx.DetectIntentRequest, **_: Any) -> cx.DetectIntentResponse:
        self.faults.step()
        after_tool = "tool_call_result" in request.query_input
        return answer("Here are some shoes." if after_tool else "Hello.", self.tool and not after_tool)


def settings_for(**overrides: Any) -> DialogSettings:
    return DialogSettings(
        **{"dialog_start_retry_s": 0.3, "barge_in_resume_timeout_ms": 100, "turn_audio": False, **overrides}
    )


@dataclass
class Msg:
    data: bytes
    headers: dict[str, str] | None = None
    subject: str = subjects.audio("a" * 32)  # the session's audio: one endless utterance (VOICECHAT_TURN_AUDIO=false)


AUDIO = Msg(b"")


def new_session(nc: FakeNats, agent: FakeAgent, dialog: DialogSettings) -> DialogSession:
    deps = CxDeps(agent, nc, dialog, SESSION, "en-US")  # type: ignore[arg-type]
    claim = bus.Claim(session_id="a" * 32, epoch=1)
    made = DialogSession(
        nc,  # type: ignore[arg-type]
        dialog,
        claim,
        EpochFilter(epoch=1),
        lambda sink, log, start: CxTurn(deps, sink, log, start),
    )
    made.confirm()
    return made


async def vad(session: DialogSession, event: bus.VadEvent) -> None:
    await session._on_vad(Msg(bus.encoder.encode(event)))  # type: ignore[arg-type]  # the VAD subject's callback


async def settled(session: DialogSession) -> None:
    for _ in range(500):
        if not session._turns:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("a turn never ended")


def events(nc: FakeNats) -> list[dict[str, Any]]:
    return [msgspec.to_builtins(server_decoder.decode(payload)) for _, payload in nc.published]


def check_total(nc: FakeNats, session: DialogSession, typed: bool) -> None:
    """Exactly one last event for turn 1, nothing of it after that; the machine and the gateway's view are idle."""
    sent = [e for e in events(nc) if e.get("turn_id") == 1]
    ends = [i for i, e in enumerate(sent) if ends_turn(e["type"], e.get("code"))]
    assert len(ends) == 1, sent
    assert ends[0] == len(sent) - 1, sent
    assert session.machine.phase is Phase.IDLE
    tracker = TurnTracker()
    if typed:
        tracker.request("show me shoes", 10.0)
    for event in events(nc):
        tracker.event(event.get("turn_id"), ends_turn(event["type"], event.get("code")))
    assert not tracker.busy


@contextlib.contextmanager
def injecting(faults: Injected) -> Iterator[None]:
    """Faults inside our request generator too; the session's retries of a refused publish without waiting."""

    def audio_request(pcm: bytes) -> Any:
        faults.step()
        return make_request(pcm)

    with (
        mock.patch.object(session_module, "SURE_RETRY_S", 0.0),
        mock.patch.object(cx_stream, "_audio_request", audio_request),
    ):
        yield


async def one_turn(faults: Injected, typed: bool, tool: bool, final: bool, end_at: int) -> None:
    nc = FakeNats(faults)
    session = new_session(nc, FakeAgent(faults, tool, final), settings_for())
    if typed:
        await session.on_control(bus.ControlText(text="show me shoes"))
    else:
        await vad(session, bus.VadSpeechStarted(offset_ms=0))
        for seq in range(FRAMES):
            if seq == end_at:
                await vad(session, bus.VadSpeechEnded(offset_ms=seq * 20))
            await session.on_audio(seq, FRAME, AUDIO)  # type: ignore[arg-type]
            await asyncio.sleep(0)
    await settled(session)
    faults.armed = False
    check_total(nc, session, typed)
    await vad(session, bus.VadSpeechStarted(offset_ms=FRAMES * 20))  # the session listens: the next turn opens
    assert events(nc)[-1] == {"type": "speech_started", "turn_id": 2, "offset_ms": FRAMES * 20}
    await session.close()


@settings(max_examples=120, deadline=None)
@given(
    at=st.none() | st.integers(min_value=1, max_value=STEPS),
    kind=st.sampled_from(sorted(FAULTS)),
    typed=st.booleans(),
    tool=st.booleans(),
    final=st.booleans(),
    end_at=st.integers(min_value=0, max_value=FRAMES - 1),
)
def test_every_turn_ends_exactly_once_whatever_fails(
    at: int | None, kind: str, typed: bool, tool: bool, final: bool, end_at: int
) -> None:
    faults = Injected(at, kind)
    with injecting(faults):
        asyncio.run(one_turn(faults, typed, tool, final or typed, end_at))


async def stalled_turn() -> tuple[FakeNats, DialogSession]:
    """An agent that accepts the stream and never takes its audio, a queue of 0.1 s (5 frames)."""
    faults = Injected(None, "bug")
    nc = FakeNats(faults)
    agent = FakeAgent(faults, tool=False, final=True)
    stall = asyncio.Event()

    async def never(requests: AsyncIterator[Any], **_: Any) -> AsyncIterator[Any]:
        await stall.wait()
        return agent._responses(requests)

    agent.streaming_detect_intent = never  # type: ignore[method-assign]
    session = new_session(nc, agent, settings_for(dialog_start_retry_s=0, turn_audio_queue_s=0.1))
    await vad(session, bus.VadSpeechStarted(offset_ms=0))
    return nc, session


def test_audio_the_agent_does_not_take_fails_the_turn_once_its_queue_is_full() -> None:
    async def scenario() -> None:
        nc, session = await stalled_turn()
        before = TURN_AUDIO_OVERFLOWS._value.get()
        for seq in range(6):  # before the turn's task first ran: 5 frames fit, the sixth overflows
            await session.on_audio(seq, FRAME, AUDIO)  # type: ignore[arg-type]
        await settled(session)
        assert [(e["type"], e.get("code")) for e in events(nc)] == [("speech_started", None), ("error", "turn_failed")]
        assert TURN_AUDIO_OVERFLOWS._value.get() == before + 1
        assert session.machine.phase is Phase.IDLE
        await session.close()

    asyncio.run(scenario())


def test_a_stream_failing_while_the_user_speaks_sends_error_once_and_listens_again() -> None:
    """The CX stream fails UNAVAILABLE after its first transcript, the user still speaking: `error{1}` at once, the
    end of that utterance changes nothing (no speech_ended{1}, no interrupted{1}), the next speech is turn 2."""

    async def scenario() -> None:
        faults = Injected(8, "unavailable")  # after speech_started, the call, 3 requests, the partial transcript
        nc = FakeNats(faults)
        session = new_session(nc, FakeAgent(faults, tool=False, final=True), settings_for())
        await vad(session, bus.VadSpeechStarted(offset_ms=0))
        for seq in range(FRAMES):
            await session.on_audio(seq, FRAME, AUDIO)  # type: ignore[arg-type]
            await asyncio.sleep(0)
        assert session.machine.phase is Phase.IDLE and not session._turns
        await vad(session, bus.VadSpeechEnded(offset_ms=FRAMES * 20))
        await vad(session, bus.VadSpeechStarted(offset_ms=FRAMES * 20 + 500))
        sent = [(e["type"], e.get("turn_id")) for e in events(nc)]
        assert sent == [
            ("speech_started", 1),
            ("transcript", 1),
            ("error", 1),
            ("speech_started", 2),
        ]
        await session.close()

    asyncio.run(scenario())


@pytest.mark.parametrize("announced", [True, False])
def test_vad_events_of_an_older_vad_epoch_are_dropped_and_counted(announced: bool) -> None:
    """The VAD owner's epoch comes from its announcement (or its own newer events); an older owner's events are
    dropped and counted under `kind="vad"`."""

    async def scenario() -> None:
        faults = Injected(None, "bug")
        nc = FakeNats(faults)
        session = new_session(nc, FakeAgent(faults, tool=False, final=True), settings_for())
        stale = STALE_EPOCH.labels("vad")
        before = stale._value.get()
        if announced:
            await session.on_control(bus.ControlOwner(kind="vad", worker_id="vad-new", epoch=4))
        else:
            await vad(session, bus.VadSpeechEnded(offset_ms=0, epoch=4))  # the new owner's, nothing open
        await vad(session, bus.VadSpeechStarted(offset_ms=100, epoch=3))
        assert events(nc) == [] and stale._value.get() == before + 1
        await vad(session, bus.VadSpeechStarted(offset_ms=200, epoch=4))
        assert [(e["type"], e.get("turn_id")) for e in events(nc)] == [("speech_started", 1)]
        await vad(session, bus.VadSpeechEnded(offset_ms=300, epoch=3))  # the old owner's end: not this speech's
        assert session.machine.phase is Phase.LISTENING and stale._value.get() == before + 2
        await session.close()

    asyncio.run(scenario())


def test_every_fault_kind_and_point_is_reachable() -> None:
    """Every step of the longest turn is in the range hypothesis draws faults from."""
    faults = Injected(None, "bug")
    with injecting(faults):
        asyncio.run(one_turn(faults, typed=False, tool=True, final=True, end_at=FRAMES - 1))
    assert faults.count == STEPS
