"""A NATS outage long enough to fill the gateway's pending buffer, at a few hundred sessions, then a worker's crash
(issue 12, finding 1): failover must still work afterwards (real nats-server, services as processes).

The server is stopped (SIGSTOP: a stalled node, its TCP connections stay up) while every session trickles audio.
The clients find it stale after three missed pings (`VOICECHAT_NATS_PING_INTERVAL_S`, lowered here) and their
pending buffer (`VOICECHAT_NATS_PENDING_BYTES`, lowered so that it fills in well under a second) overflows, so
publishes fail: the gateway drops and counts audio frames, and every loop failover depends on (liveness watch,
ticks, re-claims, announcements) must survive. Then the server resumes and a dialog worker is killed with
`kill -9`: its sessions must be re-claimed by the other one and answered. Meanwhile no socket closes, and each turn
that was under way ends exactly once (its events were lost with the bus: `turn_failed`, docs/protocol.md)."""

import asyncio
import signal
import time
from collections.abc import Iterator

import aiohttp
import pytest

from harness.procs import Service, metric, owned_sessions, wait_http
from harness.stack import Stack, running_stack
from shared.protocol import ends_turn
from voice_client.recorder import VoiceClient, connect

SESSIONS = 200
IN_FLIGHT = 8  # sessions with a turn under way when NATS stops
ANSWERED = 20  # sessions asked a question after the crash
PAUSE_S = 6.0  # past three missed pings of a second: every client finds the server stale
CHUNK = bytes(3200)  # 100 ms of silence at 16 kHz: five bus frames
CHUNK_EVERY_S = 0.5
STACK = ("tools_worker", "local_agent", "vad_worker", "dialog_worker", "dialog_worker", "gateway")
ENV = {
    "VOICECHAT_LOCAL_CX_SCRIPTED": "1",
    "VOICECHAT_NATS_PENDING_BYTES": str(256 * 1024),
    "VOICECHAT_NATS_PING_INTERVAL_S": "1",
}
DROPPED = 'voicechat_publishes_dropped_total{kind="audio"}'


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with running_stack(STACK, ENV) as running:
        wait_http(running.gateway.base_url + "/readyz")
        yield running


async def open_sessions(http: aiohttp.ClientSession, base_url: str, count: int) -> list[VoiceClient]:
    gate = asyncio.Semaphore(20)

    async def one() -> VoiceClient:
        async with gate:
            return await connect(http, base_url)

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def trickle(clients: list[VoiceClient], stop: asyncio.Event) -> None:
    """Every session sends a little audio, all the time."""
    while not stop.is_set():
        await asyncio.gather(*(client.ws.send_bytes(CHUNK) for client in clients))
        await asyncio.sleep(CHUNK_EVERY_S)


def dialog_workers(stack: Stack) -> list[Service]:
    return [s for s in stack.services if s.module == "dialog_worker" and s.proc is not None and s.proc.poll() is None]


async def settled(workers: list[Service], total: int, timeout: float = 30.0) -> list[int]:
    """Wait until the workers own `total` sessions between them; what each owns."""
    deadline = time.monotonic() + timeout
    while True:
        counts = [await asyncio.to_thread(owned_sessions, worker) for worker in workers]
        if sum(counts) == total:
            return counts
        assert time.monotonic() < deadline, f"workers own {counts}, not {total} sessions"
        await asyncio.sleep(0.25)


def turn_ends(client: VoiceClient, turn_id: int) -> list[dict[str, object]]:
    return [e for e in client.events if e.get("turn_id") == turn_id and ends_turn(e["type"], e.get("code"))]


async def ask(client: VoiceClient) -> dict[str, object]:
    """A typed question; the event that ended its turn."""
    seen = len(client.events)
    await client.send({"type": "text_input", "text": "show me shoes"})
    return await client.wait_for(
        lambda e: client.events.index(e) >= seen and ends_turn(e["type"], e.get("code")), timeout=30
    )


async def test_failover_works_after_an_outage_that_filled_the_pending_buffer(stack: Stack) -> None:
    gateway, nats = stack.gateway, stack.nats.proc
    assert nats is not None
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        clients = await open_sessions(http, gateway.base_url, SESSIONS)
        await settled(dialog_workers(stack), SESSIONS)
        busy = clients[:IN_FLIGHT]
        for client in busy:
            await client.send({"type": "text_input", "text": "show me shoes"})
        firsts = await asyncio.gather(*(client.wait_for("audio_response", timeout=30) for client in busy))
        dropped_before = metric(gateway, DROPPED)
        stop = asyncio.Event()
        sending = asyncio.create_task(trickle(clients, stop))
        await asyncio.sleep(1.0)
        nats.send_signal(signal.SIGSTOP)
        try:
            await asyncio.sleep(PAUSE_S)
        finally:
            nats.send_signal(signal.SIGCONT)
        await asyncio.to_thread(wait_http, gateway.base_url + "/readyz", 30.0)
        stop.set()
        await sending

        assert metric(gateway, DROPPED) > dropped_before, "no audio frame was dropped: the buffer never filled"
        assert [c for c in clients if c.ws.closed] == [], "a socket closed during the outage"
        ends = []
        for client, first in zip(busy, firsts, strict=True):
            turn_id = first["turn_id"]
            await client.wait_for(lambda e, n=turn_id: e.get("turn_id") == n and ends_turn(e["type"], e.get("code")))
            await asyncio.sleep(0)
            ends.append(turn_ends(client, turn_id))
        assert all(len(end) == 1 for end in ends), ends
        assert any(end[0]["type"] == "error" and end[0]["code"] == "turn_failed" for end in ends), ends

        workers = dialog_workers(stack)
        counts = await settled(workers, SESSIONS)
        victim, survivor = (workers[0], workers[1]) if counts[0] >= counts[1] else (workers[1], workers[0])
        victim.kill()
        assert await settled([survivor], SESSIONS) == [SESSIONS]
        sample = clients[IN_FLIGHT :: (SESSIONS - IN_FLIGHT) // ANSWERED]
        answers = await asyncio.gather(*(ask(client) for client in sample))
        assert [a["type"] for a in answers] == ["audio_end"] * len(sample), answers
        assert [c for c in clients if c.ws.closed] == []
        await asyncio.gather(*(client.close() for client in clients))
        victim.start()
