"""Authentication, origins, resume tokens and every per-session and per-shopper limit, each with its HTTP status,
error or close code, services left healthy (docs/protocol.md, "Authentication" and "Limits")."""

import asyncio
import time
import uuid
from collections.abc import Iterator

import aiohttp
import jwt
import pytest

from harness.procs import wait_http
from harness.stack import Stack, running_stack
from voice_client.recorder import VoiceClient, connect

SECRET = "test-secret-for-hs256-tokens-0123456789"
ORIGIN = "https://shop.example"
LIMITS = {
    "VOICECHAT_AUTH_SECRET": SECRET,
    "VOICECHAT_AUTH_AUDIENCE": "voicechat",
    "VOICECHAT_ALLOWED_ORIGINS": f"{ORIGIN},https://m.shop.example",
    "VOICECHAT_MAX_SESSIONS": "4",
    "VOICECHAT_MESSAGE_RATE": "40",
    "VOICECHAT_IDLE_TIMEOUT_S": "1.5",
    "VOICECHAT_MAX_SESSION_S": "4",
    "VOICECHAT_RESUME_TOKEN_TTL_S": "2",
    "VOICECHAT_MAX_SESSIONS_PER_SHOPPER": "2",
    "VOICECHAT_TURNS_PER_MINUTE_SESSION": "3",
    "VOICECHAT_TURNS_PER_MINUTE_SHOPPER": "4",
    "VOICECHAT_MAX_TEXT_CHARS": "100",
}


def token(exp_in: float = 3600, secret: str = SECRET, sub: str | None = None, aud: str = "voicechat") -> str:
    """A JWT for a fresh shopper unless `sub` names one (tests do not share per-shopper budgets)."""
    claims = {"sub": sub or f"shopper-{uuid.uuid4().hex[:8]}", "exp": int(time.time() + exp_in), "aud": aud}
    return jwt.encode(claims, secret, algorithm="HS256")


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with running_stack(("vad_worker", "dialog_worker", "gateway"), LIMITS) as running:
        wait_http(running.gateway.base_url + "/readyz")
        yield running


def ws_url(stack: Stack, query: str = "") -> str:
    return f"{stack.gateway.base_url}/ws/voice-chat{query}"


async def refused(http: aiohttp.ClientSession, url: str, **kwargs: object) -> tuple[int, str]:
    """Status and reason code of an upgrade refused over HTTP."""
    upgrade = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13"}
    headers = {**upgrade, "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", **kwargs.pop("headers", {})}  # type: ignore[dict-item]
    async with http.get(url, headers=headers, **kwargs) as response:  # type: ignore[arg-type]
        body = await response.text()
        assert "Traceback" not in body
        return response.status, (await response.json())["error"] if response.status != 101 else ""


@pytest.mark.parametrize(
    ("offer", "reason"),
    [
        ("voicechat.v1", "token_missing"),
        (f"voicechat.v1, bearer.{token(-60)}", "token_expired"),
        (f"voicechat.v1, bearer.{token(secret='x' * 40)}", "token_signature"),
        (f"voicechat.v1, bearer.{token(aud='another-app')}", "token_audience"),
        ("voicechat.v1, bearer.not-a-jwt", "token_invalid"),
    ],
)
async def test_bad_tokens_are_refused_before_the_upgrade_with_a_reason(
    stack: Stack, http: aiohttp.ClientSession, offer: str, reason: str
) -> None:
    assert await refused(http, ws_url(stack), headers={"Sec-WebSocket-Protocol": offer}) == (401, reason)


async def test_credentials_in_the_url_are_refused(stack: Stack, http: aiohttp.ClientSession) -> None:
    for query in (f"?token={token()}", "?resume_token=abc.def", "?session_id=" + "a" * 32):
        assert await refused(http, ws_url(stack, query)) == (401, "credentials_in_query")


async def test_credentials_without_the_protocol_are_400(stack: Stack, http: aiohttp.ClientSession) -> None:
    offer = {"Sec-WebSocket-Protocol": f"bearer.{token()}"}
    assert await refused(http, ws_url(stack), headers=offer) == (400, "subprotocol_required")


async def test_subprotocol_and_header_credentials_select_voicechat_v1_only(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    first = await connect(http, stack.gateway.base_url, token=token())
    assert first.start["type"] == "session_start" and first.ws.protocol == "voicechat.v1"
    await first.close()
    header = {"Authorization": f"Bearer {token()}"}
    ws = await http.ws_connect(ws_url(stack), headers=header, protocols=("voicechat.v1",))
    assert ws.protocol == "voicechat.v1"
    assert (await ws.receive_json())["type"] == "session_start"
    await ws.close()
    ws = await http.ws_connect(ws_url(stack), headers=header)  # a server-side client may offer no subprotocol
    assert ws.protocol is None and (await ws.receive_json())["type"] == "session_start"
    await ws.close()


async def test_origins_allowed_and_refused(stack: Stack, http: aiohttp.ClientSession) -> None:
    ws = await http.ws_connect(ws_url(stack), origin=ORIGIN, protocols=("voicechat.v1", f"bearer.{token()}"))
    assert (await ws.receive_json())["type"] == "session_start"
    await ws.close()
    assert await refused(http, ws_url(stack), headers={"Origin": "https://evil.example"}) == (403, "origin_not_allowed")
    async with http.get(f"{stack.gateway.base_url}/healthz", headers={"Origin": ORIGIN}) as response:
        assert response.headers.get("Access-Control-Allow-Origin") == ORIGIN
    async with http.get(f"{stack.gateway.base_url}/healthz", headers={"Origin": "https://evil.example"}) as response:
        assert "Access-Control-Allow-Origin" not in response.headers


async def resume_error(http: aiohttp.ClientSession, stack: Stack, jwt_: str, resume: str | None) -> str:
    client = await connect(http, stack.gateway.base_url, wait_start=False, token=jwt_, resume=resume)
    first = await client.wait_for(lambda e: e["type"] in ("session_start", "error"))
    await client.close()
    return "" if first["type"] == "session_start" else str(first["code"])


async def test_resume_token_is_bound_to_the_subject_and_refused_after_end_session(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    owner = token(sub="resume-owner")
    client = await connect(http, stack.gateway.base_url, token=owner)
    await client.ws.close()
    assert await resume_error(http, stack, token(sub="someone-else"), client.resume_token) == "session_not_found"
    resumed = await connect(http, stack.gateway.base_url, token=owner, resume=client.resume_token)
    assert resumed.start["resumed"] and resumed.start["session_id"] == client.start["session_id"]
    await resumed.send({"type": "end_session"})
    await asyncio.wait_for(resumed._reader, 5)
    assert await resume_error(http, stack, owner, resumed.resume_token) == "session_not_found"


async def test_resume_tokens_expire_and_are_reissued_before_they_do(stack: Stack, http: aiohttp.ClientSession) -> None:
    owner = token()
    client = await connect(http, stack.gateway.base_url, token=owner)
    assert client.start["resume_expires_in_s"] == 2
    first = client.resume_token
    reissued = await client.wait_for("resume_token", timeout=3)
    assert reissued["resume_token"] != first and reissued["resume_expires_in_s"] == 2
    await client.close()
    await asyncio.sleep(2.1)
    assert await resume_error(http, stack, owner, first) == "session_not_found"


async def test_sessions_per_shopper_are_capped_and_other_shoppers_are_not(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    shopper = token(sub="busy-shopper")
    clients = [await connect(http, stack.gateway.base_url, token=shopper) for _ in range(2)]
    extra = await connect(http, stack.gateway.base_url, token=shopper, wait_start=False)
    error = await extra.wait_for("error")
    assert error["code"] == "rate_limited" and error["fatal"] is True and "shopper" in error["message"]
    await extra._reader
    assert extra.ws.close_code == 1008
    other = await connect(http, stack.gateway.base_url, token=token())
    for client in clients:
        await still_works(client)
    await clients[0].close()
    await asyncio.sleep(0.2)
    again = await connect(http, stack.gateway.base_url, token=shopper)
    for client in (other, clients[1], again):
        await client.close()


async def still_works(client: VoiceClient) -> None:
    pongs = len(client.of_type("pong"))
    await client.send({"type": "ping"})
    await client.wait_for(lambda e: e["type"] == "pong" and len(client.of_type("pong")) > pongs)


def turn_limits(client: VoiceClient) -> list[str]:
    return [e["message"] for e in client.of_type("error") if e["code"] == "rate_limited"]


async def test_turns_a_minute_per_session_and_per_shopper(stack: Stack, http: aiohttp.ClientSession) -> None:
    shopper = token(sub="chatty-shopper")
    first = await connect(http, stack.gateway.base_url, token=shopper)
    for _ in range(4):
        await first.send({"type": "start_speaking"})
        await first.send({"type": "stop_speaking"})
    await still_works(first)
    assert turn_limits(first) == ["too many turns a minute in this session"]
    second = await connect(http, stack.gateway.base_url, token=shopper)
    await second.send({"type": "start_speaking"})
    await second.send({"type": "stop_speaking"})
    await second.send({"type": "start_speaking"})
    await still_works(second)
    assert turn_limits(second) == ["too many turns a minute for this shopper"]
    bystander = await connect(http, stack.gateway.base_url, token=token())
    await bystander.send({"type": "start_speaking"})
    await bystander.send({"type": "stop_speaking"})
    await still_works(bystander)
    assert bystander.of_type("error") == []
    for client in (first, second, bystander):
        await client.close()


async def test_long_text_input_is_message_too_large(stack: Stack, http: aiohttp.ClientSession) -> None:
    client = await connect(http, stack.gateway.base_url, token=token())
    await client.send({"type": "text_input", "text": "x" * 101})
    error = await client.wait_for("error")
    assert error["code"] == "message_too_large" and error["fatal"] is False
    await still_works(client)
    await client.close()


async def test_message_rate_limit_answers_rate_limited_and_recovers(stack: Stack, http: aiohttp.ClientSession) -> None:
    client = await connect(http, stack.gateway.base_url, token=token())
    for _ in range(200):
        await client.send({"type": "ping"})
    error = await client.wait_for("error")
    assert error["code"] == "rate_limited" and error["fatal"] is False
    assert len(client.of_type("error")) == 1  # one warning a second, not one per message
    await asyncio.sleep(1.2)
    await still_works(client)
    await client.close()


async def test_audio_faster_than_four_times_real_time_is_refused(stack: Stack, http: aiohttp.ClientSession) -> None:
    client = await connect(http, stack.gateway.base_url, token=token())
    chunk = bytes(16000 * 2 // 5)  # 200 ms
    for _ in range(40):  # 8 s of audio at once
        await client.ws.send_bytes(chunk)
    error = await client.wait_for("error")
    assert error["code"] == "rate_limited" and "real time" in error["message"]
    await still_works(client)
    await client.close()


async def test_sessions_per_gateway_are_capped_with_1013(stack: Stack, http: aiohttp.ClientSession) -> None:
    clients = [await connect(http, stack.gateway.base_url, token=token()) for _ in range(4)]
    extra = await connect(http, stack.gateway.base_url, token=token(), wait_start=False)
    assert (await extra.wait_for("error"))["code"] == "overloaded"
    await extra._reader
    assert extra.ws.close_code == 1013
    await clients[0].close()
    await asyncio.sleep(0.2)
    again = await connect(http, stack.gateway.base_url, token=token())
    assert again.start["type"] == "session_start"
    for client in [*clients[1:], again]:
        await client.close()


async def test_idle_connection_is_closed(stack: Stack, http: aiohttp.ClientSession) -> None:
    client = await connect(http, stack.gateway.base_url, token=token())
    await asyncio.wait_for(client._reader, 5)
    assert client.ws.close_code == 1000


async def test_maximum_session_length(stack: Stack, http: aiohttp.ClientSession) -> None:
    client = await connect(http, stack.gateway.base_url, token=token())
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
    assert "Traceback" not in stack.gateway.output()
