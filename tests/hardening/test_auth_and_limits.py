"""Authentication, origins and every per-session limit, each with its error or close code, services left healthy."""

import asyncio
import time
from collections.abc import Iterator

import aiohttp
import jwt
import pytest

from harness.procs import wait_http
from harness.stack import Stack, running_stack
from voice_client.recorder import connect

SECRET = "test-secret-for-hs256-tokens-0123456789"
ORIGIN = "https://shop.example"
LIMITS = {
    "VOICECHAT_AUTH_SECRET": SECRET,
    "VOICECHAT_ALLOWED_ORIGINS": f"{ORIGIN},https://m.shop.example",
    "VOICECHAT_MAX_SESSIONS": "3",
    "VOICECHAT_MESSAGE_RATE": "40",
    "VOICECHAT_IDLE_TIMEOUT_S": "1.5",
    "VOICECHAT_MAX_SESSION_S": "4",
}


def token(exp_in: float = 300, secret: str = SECRET, sub: str = "shopper-1") -> str:
    return jwt.encode({"sub": sub, "exp": int(time.time() + exp_in)}, secret, algorithm="HS256")


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with running_stack(("vad_worker", "dialog_worker", "gateway"), LIMITS) as running:
        wait_http(running.gateway.base_url + "/readyz")
        yield running


@pytest.mark.parametrize(
    ("query", "reason"),
    [("", "token is required"), (f"?token={token(-5)}", "expired"), (f"?token={token(secret='x' * 40)}", "invalid")],
)
async def test_bad_tokens_are_refused_before_the_upgrade(
    stack: Stack, http: aiohttp.ClientSession, query: str, reason: str
) -> None:
    async with http.get(f"{stack.gateway.base_url}/ws/voice-chat{query}") as response:
        assert response.status == 401
        assert reason in await response.text()


async def test_valid_token_in_query_or_header(stack: Stack, http: aiohttp.ClientSession) -> None:
    first = await connect(http, stack.gateway.base_url, f"?token={token()}")
    assert first.start["type"] == "session_start"
    await first.close()
    ws = await http.ws_connect(
        f"{stack.gateway.base_url}/ws/voice-chat", headers={"Authorization": f"Bearer {token()}"}
    )
    assert (await ws.receive_json())["type"] == "session_start"
    await ws.close()


async def test_origins_allowed_and_refused(stack: Stack, http: aiohttp.ClientSession) -> None:
    url = f"{stack.gateway.base_url}/ws/voice-chat?token={token()}"
    ws = await http.ws_connect(url, origin=ORIGIN)
    assert (await ws.receive_json())["type"] == "session_start"
    await ws.close()
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(url, origin="https://evil.example")
    assert refused.value.status == 403
    async with http.get(f"{stack.gateway.base_url}/healthz", headers={"Origin": ORIGIN}) as response:
        assert response.headers.get("Access-Control-Allow-Origin") == ORIGIN
    async with http.get(f"{stack.gateway.base_url}/healthz", headers={"Origin": "https://evil.example"}) as response:
        assert "Access-Control-Allow-Origin" not in response.headers


async def test_message_rate_limit_answers_rate_limited_and_recovers(stack: Stack, http: aiohttp.ClientSession) -> None:
    client = await connect(http, stack.gateway.base_url, f"?token={token()}")
    for _ in range(200):
        await client.send({"type": "ping"})
    error = await client.wait_for("error")
    assert error["code"] == "rate_limited" and error["fatal"] is False
    assert len(client.of_type("error")) == 1  # one warning a second, not one per message
    await asyncio.sleep(1.2)
    pongs = len(client.of_type("pong"))
    await client.send({"type": "ping"})
    await client.wait_for(lambda e: e["type"] == "pong" and len(client.of_type("pong")) > pongs)
    await client.close()


async def test_audio_faster_than_four_times_real_time_is_refused(stack: Stack, http: aiohttp.ClientSession) -> None:
    client = await connect(http, stack.gateway.base_url, f"?token={token()}")
    chunk = bytes(16000 * 2 // 5)  # 200 ms
    for _ in range(40):  # 8 s of audio at once
        await client.ws.send_bytes(chunk)
    error = await client.wait_for("error")
    assert error["code"] == "rate_limited" and "real time" in error["message"]
    await client.send({"type": "ping"})
    await client.wait_for("pong")
    await client.close()


async def test_sessions_per_gateway_are_capped_with_1013(stack: Stack, http: aiohttp.ClientSession) -> None:
    clients = [await connect(http, stack.gateway.base_url, f"?token={token()}") for _ in range(3)]
    extra = await connect(http, stack.gateway.base_url, f"?token={token()}", wait_start=False)
    assert (await extra.wait_for("error"))["code"] == "overloaded"
    await extra._reader
    assert extra.ws.close_code == 1013
    await clients[0].close()
    await asyncio.sleep(0.2)
    again = await connect(http, stack.gateway.base_url, f"?token={token()}")
    assert again.start["type"] == "session_start"
    for client in [*clients[1:], again]:
        await client.close()


async def test_idle_connection_is_closed(stack: Stack, http: aiohttp.ClientSession) -> None:
    client = await connect(http, stack.gateway.base_url, f"?token={token()}")
    await asyncio.wait_for(client._reader, 5)
    assert client.ws.close_code == 1000


async def test_maximum_session_length(stack: Stack, http: aiohttp.ClientSession) -> None:
    client = await connect(http, stack.gateway.base_url, f"?token={token()}")
    deadline = time.monotonic() + 8
    while not client.ws.closed and time.monotonic() < deadline:
        await client.send({"type": "ping"})
        await asyncio.sleep(0.5)
    await asyncio.wait_for(client._reader, 3)
    assert client.ws.close_code == 1008
    assert client.of_type("error")[-1]["message"] == "maximum session length reached"


async def test_gateway_and_workers_stayed_healthy(stack: Stack, http: aiohttp.ClientSession) -> None:
    assert all(s.proc is not None and s.proc.poll() is None for s in stack.services)
    async with http.get(stack.gateway.base_url + "/readyz") as response:
        assert response.status == 200
