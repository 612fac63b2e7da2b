"""No secret in any log: the whole stack with auth, a NATS user and password, JWTs and resume tokens, every
service at DEBUG; then every line of every service's output is scanned. Secrets and tokens appear nowhere; raw
session ids appear only in DEBUG lines (README, Observability)."""

import asyncio
import json
import secrets
import time
from typing import Any

import aiohttp
import jwt

from harness.procs import wait_http
from harness.stack import FULL_STACK, Stack, running_stack
from shared.logs import session_ref
from voice_client.recorder import VoiceClient, connect

AUTH_SECRET = secrets.token_urlsafe(40)
RESUME_SECRET = secrets.token_urlsafe(40)
NATS_PASSWORD = secrets.token_urlsafe(24)
ENV = {
    "VOICECHAT_AUTH_SECRET": AUTH_SECRET,
    "VOICECHAT_RESUME_SECRET": RESUME_SECRET,
    "VOICECHAT_LOG_LEVEL": "DEBUG",
    "VOICECHAT_LOCAL_CX_SCRIPTED": "1",
    "VOICECHAT_RESUME_TOKEN_TTL_S": "2",  # re-issued every second: more tokens to look for
}


def mint(subject: str) -> str:
    return jwt.encode({"sub": subject, "exp": int(time.time()) + 300}, AUTH_SECRET, algorithm="HS256")


async def turn(client: VoiceClient, text: str) -> None:
    seen = len(client.of_type("audio_end"))
    await client.send({"type": "text_input", "text": text})
    await client.wait_for(lambda e: e["type"] == "audio_end" and len(client.of_type("audio_end")) > seen, 30)


def tokens_of(client: VoiceClient) -> set[str]:
    return {e["resume_token"] for e in client.events if "resume_token" in e}


async def exercise(stack: Stack) -> tuple[set[str], set[str]]:
    """Sessions through every credential path, good and bad; returns (credentials used, session ids)."""
    jwts = {mint("shopper-a"), mint("shopper-b")}
    first_jwt, second_jwt = sorted(jwts)
    base = stack.gateway.base_url
    async with aiohttp.ClientSession() as http:
        client = await connect(http, base, token=first_jwt)
        await turn(client, "hello what can you do")
        await client.wait_for("resume_token", timeout=5)
        await client.ws.close()
        resumed = await connect(http, base, token=first_jwt, resume=client.resume_token)
        await turn(resumed, "show me some sunglasses")
        await resumed.send({"type": "end_session"})
        await asyncio.wait_for(resumed._reader, 10)
        refused = await connect(http, base, wait_start=False, token=first_jwt, resume=resumed.resume_token)
        await refused.wait_for("error")
        other = await connect(http, base, wait_start=False, token=second_jwt, resume=client.resume_token)
        await other.wait_for("error")
        header = await http.ws_connect(f"{base}/ws/voice-chat", headers={"Authorization": f"Bearer {second_jwt}"})
        start = await header.receive_json()
        await header.close()
        for url in (
            f"{base}/ws/voice-chat?token={first_jwt}",
            f"{base}/ws/voice-chat?resume_token={start['resume_token']}",
        ):
            async with http.get(url) as response:
                assert response.status == 401
        forged = mint("shopper-a")[:-4] + "AAAA"
        async with http.get(f"{base}/ws/voice-chat", headers={"Authorization": f"Bearer {forged}"}) as response:
            assert response.status == 401
        credentials = jwts | {forged} | tokens_of(client) | tokens_of(resumed) | {start["resume_token"]}
        return credentials, {client.start["session_id"], start["session_id"]}


def leaks(output: str, secrets_: set[str], session_ids: set[str]) -> list[str]:
    found = []
    for line in output.splitlines():
        if any(secret in line for secret in secrets_):
            found.append(f"secret: {line[:300]}")
            continue
        if not any(session_id in line for session_id in session_ids):
            continue
        try:
            record: Any = json.loads(line)
        except ValueError:
            record = {}
        if not isinstance(record, dict) or record.get("level") != "debug":
            found.append(f"session id above DEBUG: {line[:300]}")
    return found


def test_no_secret_token_or_session_id_in_any_log_line() -> None:
    with running_stack(FULL_STACK, ENV, nats_user=("voicechat", NATS_PASSWORD)) as stack:
        wait_http(stack.gateway.base_url + "/readyz", timeout=60)
        credentials, session_ids = asyncio.run(exercise(stack))
    secrets_ = {AUTH_SECRET, RESUME_SECRET, NATS_PASSWORD, *credentials}
    outputs = {f"{s.module}:{s.ops_port}": s.output() for s in stack.services}
    gateway = outputs[f"gateway:{stack.gateway.ops_port}"]
    assert all("Using selector" in output for output in outputs.values())  # a DEBUG line: DEBUG was on
    assert all(session_ref(session_id) in gateway for session_id in session_ids)  # the sessions were logged
    assert "nats://***@127.0.0.1" in gateway
    found = {name: leaks(output, secrets_, session_ids) for name, output in outputs.items()}
    assert {name: lines for name, lines in found.items() if lines} == {}
