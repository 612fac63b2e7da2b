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


_peek = msgspec.json.Decoder(Peek)
SETTINGS = load_settings(VadSettings, {})  # the VAD worker's defaults, for each session's replica of its detector


@dataclass(frozen=True)
class LoadPlan:
    url: str  # ws://.../ws/voice-chat?sample_rate=16000
    sessions: int
    first_index: int  # global index of this process's first session (spreads rotations and start times)
    start_at: float  # monotonic (one clock for every process): streaming starts
    window: Window
    end_at: float
    rotation: tuple[Mode, ...]
    peer: bool = False  # the Pipecat peer: no VAD events, no protocol-order checks, audio as binary frames


class Session:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse, driver: SessionDriver, peer: bool) -> None:
        self.ws = ws
        self.driver = driver
        self.order = OrderChecker()
        self.peer = peer
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            now = time.monotonic()
            if msg.type is aiohttp.WSMsgType.BINARY:
                self.driver.on_event("audio_response", now)
            elif msg.type is aiohttp.WSMsgType.TEXT:
                event = _peek.decode(msg.data)
                if not self.peer:
                    self.order.feed(event.type, event.turn_id, event.seq)
                self.driver.on_event(event.type, now)


async def _wait_start(ws: aiohttp.ClientWebSocketResponse) -> None:
    msg = await ws.receive(timeout=10)
    if msg.type is not aiohttp.WSMsgType.TEXT or _peek.decode(msg.data).type != "session_start":
        raise ValueError(f"expected session_start, got {msg.type} {msg.data!r:.80}")


async def _connect(
    http: aiohttp.ClientSession, plan: LoadPlan, index: int, script: Script, recorder: Recorder, gate: asyncio.Semaphore
) -> Session | None:
    first = plan.start_at + (index * 0.0377) % STAGGER_S
    shift = index % len(plan.rotation)
    rotation = plan.rotation[shift:] + plan.rotation[:shift]
    driver = SessionDriver(script, make_detector(SETTINGS), recorder, rotation, first, vad_events=not plan.peer)
    async with gate:
        try:
            protocols = () if plan.peer else subprotocols()
            ws = await http.ws_connect(plan.url, max_msg_size=0, autoping=True, protocols=protocols)
            if not plan.peer:
                await _wait_start(ws)
        except (aiohttp.ClientError, TimeoutError, ValueError):
            recorder.counts["connect_failed"] += 1
            return None
    return Session(ws, driver, plan.peer)


async def _stream(sessions: list[Session], plan: LoadPlan, recorder: Recorder) -> None:
    """Send every session its next frame in real time until `end_at`; late ticks are caught up, and measured."""
    await asyncio.sleep(max(0.0, plan.start_at - time.monotonic()))
    due, tick = plan.start_at, 0
    while due < plan.end_at:
        lag = time.monotonic() - due
        if lag > 0:
            recorder.latency("loadgen_lag", due, due + lag)
        for session in sessions[tick % SLOTS :: SLOTS]:
            if not session.ws.closed:
                await _send(session, recorder)
        tick += 1
        due += TICK_S
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)


async def _send(session: Session, recorder: Recorder) -> None:
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


async def run_plan(plan: LoadPlan, script: Script) -> dict[str, Any]:
    recorder = Recorder(plan.window)
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    async with aiohttp.ClientSession() as http:
        indices = range(plan.first_index, plan.first_index + plan.sessions)
        opened = await asyncio.gather(*(_connect(http, plan, i, script, recorder, gate) for i in indices))
        sessions = [s for s in opened if s is not None]
        await _stream(sessions, plan, recorder)
        await _close(sessions, recorder)
    recorder.counts["order_violations"] += sum(s.order.violations for s in sessions)
    recorder.counts["lost_audio_chunks"] += sum(s.order.lost for s in sessions)
    return {"histograms": recorder.histograms.encode(), "counts": dict(recorder.counts)}


def process_main(plan: LoadPlan, script: Script, results: Any) -> None:
    """Entry of one load process (multiprocessing): run the plan, put its result and own CPU time on `results`."""
    result = asyncio.run(run_plan(plan, script))
    times = psutil.Process().cpu_times()
    results.put({**result, "cpu_s": times.user + times.system})
