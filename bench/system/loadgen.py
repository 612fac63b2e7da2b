"""Load generator process: N WebSocket sessions on one asyncio loop, streaming 20 ms frames in real time.

One ticker drives every session (SLOTS interleaved groups, one group per 5 ms tick, so frames leave evenly rather
than in one burst every 20 ms); one reader task per socket feeds events to the session's driver and order checker.
All sessions of the process record into one Recorder; the parent merges the processes' encoded histograms.
"""

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import msgspec
import psutil

from bench.system.driver import Mode, Recorder, SessionDriver, Window
from bench.system.order import OrderChecker
from bench.system.script import Script
from shared.protocol import unpack_audio_frame
from shared.settings import VadSettings, load_settings
from vad_worker.worker import make_detector
from voice_client.recorder import subprotocols

SLOTS = 4
TICK_S = 0.02 / SLOTS
CONNECT_CONCURRENCY = 20
STAGGER_S = 3.0  # first utterances spread over this long
END_SESSION = '{"type": "end_session"}'


class Peek(msgspec.Struct):
    type: str
    turn_id: int | None = None
    seq: int | None = None
    code: str | None = None


_peek = msgspec.json.Decoder(Peek)
SETTINGS = load_settings(VadSettings, {})  # the VAD worker's defaults, for each session's replica of its detector


@dataclass(frozen=True)
class LoadPlan:
    url: str  # ws://.../ws/voice-chat?sample_rate=16000
    sessions: int
    first_index: int  # global index of this process's first session (spreads rotations and start times)
    rotation: tuple[Mode, ...]
    peer: bool = False  # the Pipecat peer: no VAD events, no protocol-order checks, audio as binary frames


@dataclass(frozen=True)
class Timing:
    """Sent by the parent once every load process has connected all its sessions (monotonic, one clock for all)."""

    start_at: float  # streaming starts
    window: Window
    end_at: float


class Session:
    """One socket; its reader runs from the connect on (so pings are answered while the others connect), its
    driver is set once the step's timing is known."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, index: int, peer: bool) -> None:
        self.ws = ws
        self.index = index
        self.driver: SessionDriver | None = None
        self.order = OrderChecker()
        self.peer = peer
        self.reader = asyncio.create_task(self._read())

    def drive(self, plan: LoadPlan, timing: Timing, script: Script, recorder: Recorder) -> SessionDriver:
        first = timing.start_at + (self.index * 0.0377) % STAGGER_S
        shift = self.index % len(plan.rotation)
        rotation = plan.rotation[shift:] + plan.rotation[:shift]
        detector = make_detector(SETTINGS)
        self.driver = SessionDriver(script, detector, recorder, rotation, first, vad_events=not self.peer)
        return self.driver

    async def _read(self) -> None:
        async for msg in self.ws:
            now, driver = time.monotonic(), self.driver
            if driver is None:
                continue  # nothing is due before streaming starts
            if msg.type is aiohttp.WSMsgType.BINARY:  # response audio: the peer's raw PCM, or ours (audio_out=binary)
                if not self.peer:
                    audio = unpack_audio_frame(msg.data)
                    self.order.feed("audio_response", audio.turn_id, audio.seq)
                driver.on_event("audio_response", now)
            elif msg.type is aiohttp.WSMsgType.TEXT:
                event = _peek.decode(msg.data)
                if not self.peer:
                    self.order.feed(event.type, event.turn_id, event.seq)
                driver.on_event(event.type, now, event.code)


async def _wait_start(ws: aiohttp.ClientWebSocketResponse) -> None:
    msg = await ws.receive(timeout=10)
    if msg.type is not aiohttp.WSMsgType.TEXT or _peek.decode(msg.data).type != "session_start":
        raise ValueError(f"expected session_start, got {msg.type} {msg.data!r:.80}")


async def _connect(http: aiohttp.ClientSession, plan: LoadPlan, index: int, gate: asyncio.Semaphore) -> Session | None:
    async with gate:
        try:
            protocols = () if plan.peer else subprotocols()
            ws = await http.ws_connect(plan.url, max_msg_size=0, autoping=True, protocols=protocols)
            if not plan.peer:
                await _wait_start(ws)
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return None
    return Session(ws, index, plan.peer)


async def _stream(sessions: list[Session], timing: Timing, recorder: Recorder) -> None:
    """Send every session its next frame in real time until `end_at`; late ticks are caught up, and measured."""
    await asyncio.sleep(max(0.0, timing.start_at - time.monotonic()))
    due, tick = timing.start_at, 0
    while due < timing.end_at:
        lag = time.monotonic() - due
        if lag > 0:
            recorder.latency("loadgen_lag", due, due + lag)
        for session in sessions[tick % SLOTS :: SLOTS]:
            if not session.ws.closed:
                await _send(session, recorder)
        tick += 1
        due += TICK_S
        # Yield even when behind: sends rarely block, so without it a lagging ticker starves the readers (every
        # event then looks lost).
        await asyncio.sleep(max(0.0, due - time.monotonic()))


async def _send(session: Session, recorder: Recorder) -> None:
    assert session.driver is not None, "every streamed session is driven"
    frame, text = session.driver.tick(time.monotonic())
    try:
        if text is not None:
            await session.ws.send_str(text)
        await session.ws.send_bytes(frame)
    except (ConnectionError, aiohttp.ClientError):
        recorder.counts["send_failed"] += 1


async def _close(sessions: list[Session], recorder: Recorder) -> None:
    for session in sessions:
        if session.ws.closed:
            recorder.counts["closed_by_server"] += 1
            continue
        await session.ws.send_str(END_SESSION)
    await asyncio.gather(*(s.ws.close() for s in sessions))
    await asyncio.gather(*(s.reader for s in sessions))


async def run_plan(plan: LoadPlan, script: Script, ready: Any, timings: Any) -> dict[str, Any]:
    """Connect every session, say so on `ready`, take the step's timing from `timings`, then stream."""
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    async with aiohttp.ClientSession() as http:
        indices = range(plan.first_index, plan.first_index + plan.sessions)
        opened = await asyncio.gather(*(_connect(http, plan, i, gate) for i in indices))
        ready.put(plan.first_index)
        timing: Timing = await asyncio.to_thread(timings.get)
        recorder = Recorder(timing.window)
        recorder.counts["connect_failed"] += opened.count(None)
        sessions = [s for s in opened if s is not None]
        for session in sessions:
            session.drive(plan, timing, script, recorder)
        await _stream(sessions, timing, recorder)
        await _close(sessions, recorder)
    recorder.counts["order_violations"] += sum(s.order.violations for s in sessions)
    recorder.counts["lost_audio_chunks"] += sum(s.order.lost for s in sessions)
    return {"histograms": recorder.histograms.encode(), "counts": dict(recorder.counts)}


def process_main(plan: LoadPlan, script: Script, ready: Any, timings: Any, results: Any) -> None:
    """Entry of one load process (multiprocessing): run the plan, put its result and own CPU time on `results`."""
    result = asyncio.run(run_plan(plan, script, ready, timings))
    times = psutil.Process().cpu_times()
    results.put({**result, "cpu_s": times.user + times.system})
