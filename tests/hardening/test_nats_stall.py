"""A NATS stall (the server stopped with SIGSTOP: its sockets stay open, nothing moves) longer than the answer
timeout and long enough for every client to find the server stale and reconnect: a request typed during it is
answered once it is over, exactly once, never failed (issue 12: the "NATS paused 20 s" fault of `make chaos`).

Two things make that so, and the test fails without either. The gateway does not count a request's answer time
while its own link carries nothing (gateway/link_probe.py), so the request is not failed during the stall. When the
link is back, the request (which no event answered) is sent again rather than failed, and the dialog worker drops
the copy if the original reached it after all (dialog_worker/turns.py, REPEATED)."""

import asyncio
import signal

import aiohttp

from harness.procs import wait_http
from harness.stack import running_stack
from shared.protocol import ends_turn
from voice_client.recorder import connect

STACK = ("tools_worker", "local_agent", "vad_worker", "dialog_worker", "gateway")
ENV = {
    "VOICECHAT_LOCAL_CX_SCRIPTED": "1",
    "VOICECHAT_NATS_PING_INTERVAL_S": "1",  # stale after three missed pings: well inside the stall
    "VOICECHAT_TURN_ANSWER_TIMEOUT_S": "2",  # shorter than the stall
}
STALL_S = 6.0


async def test_a_request_typed_during_a_nats_stall_is_answered_once_after_it() -> None:
    with running_stack(STACK, ENV) as stack:
        wait_http(stack.gateway.base_url + "/readyz")
        nats = stack.nats.proc
        assert nats is not None
        async with aiohttp.ClientSession() as http:
            client = await connect(http, stack.gateway.base_url)
            await client.send({"type": "text_input", "text": "hello"})
            await client.wait_for(lambda e: e["type"] == "audio_end" and e["turn_id"] == 1, timeout=30)
            nats.send_signal(signal.SIGSTOP)
            try:
                await client.send({"type": "text_input", "text": "show me some sunglasses"})
                await asyncio.sleep(STALL_S)
            finally:
                nats.send_signal(signal.SIGCONT)
            end = await client.wait_for(lambda e: e.get("turn_id") == 2 and ends_turn(e["type"], e.get("code")), 30)
            assert end["type"] == "audio_end", end
            await asyncio.sleep(2.0)  # a second answer, had the copy been taken as a new request, would come by now
            turns = [e["turn_id"] for e in client.events if "turn_id" in e]
            assert max(turns) == 2, turns
            assert client.of_type("error") == [] and client.of_type("interrupted") == [], client.events
            assert len(client.of_type("audio_end")) == 2
            await client.close()
