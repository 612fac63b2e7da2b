"""A client that stops reading is cut off (1008) by its own bounded send queue, without slowing 50 others."""

import asyncio
import time
from urllib.parse import urlparse

import aiohttp

from harness.procs import wait_http
from harness.stack import FULL_STACK, running_stack
from tests.support.raw_ws import RawWebSocket
from voice_client.recorder import VoiceClient, connect

SLOW_ENV = {
    "VOICECHAT_LOCAL_CX_SCRIPTED": "1",
    "VOICECHAT_OUTPUT_SAMPLE_RATE": "48000",
    "VOICECHAT_SEND_QUEUE_SIZE": "16",
    "VOICECHAT_SEND_TIMEOUT_S": "1",
}


async def keep_pinging(client: VoiceClient, until: float) -> int:
    sent = 0
    while time.monotonic() < until:
        await client.send({"type": "ping"})
        sent += 1
        await asyncio.sleep(0.2)
    return sent


async def test_slow_client_is_cut_off_and_others_are_unaffected() -> None:
    with running_stack(FULL_STACK, SLOW_ENV) as stack:
        wait_http(stack.gateway.base_url + "/readyz")
        address = urlparse(stack.gateway.base_url)
        async with aiohttp.ClientSession() as http:
            normal = [await connect(http, stack.gateway.base_url) for _ in range(50)]
            slow = RawWebSocket(address.hostname or "127.0.0.1", address.port or 80, "/ws/voice-chat")
            for _ in range(3):
                slow.send_json({"type": "text_input", "text": "show me shoes"})
                await asyncio.sleep(2.5)
            until = time.monotonic() + 3
            talkers = normal[:5]
            for client in talkers:
                await client.send({"type": "text_input", "text": "show me shoes"})
            sent = await asyncio.gather(*(keep_pinging(client, until) for client in normal))
            for client, count in zip(normal, sent, strict=True):
                await client.wait_for(lambda e, c=client, n=count: len(c.of_type("pong")) >= n, timeout=5)
            for client in talkers:
                await client.wait_for("audio_end", timeout=10)
            assert await asyncio.to_thread(slow.read_until_closed, 10.0)
            slow.close()
            for client in normal:
                await client.close()
        assert "slow_client_closed" in stack.gateway.output()
