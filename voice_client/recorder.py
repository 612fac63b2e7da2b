"""A protocol v1 WebSocket client (aiohttp) that records every event with its arrival time (tests, chaos, bench).

Binary response audio (`audio_out=binary`) is recorded in order with the events, as `{"type": "binary_audio",
"turn_id", "seq", "sample_rate", "pcm"}` (not a protocol event type: the frame's fields, PCM as bytes).
"""

import asyncio
import json
import time
from typing import Any

import aiohttp

from shared.audio import FRAME_MS
from shared.protocol import unpack_audio_frame

BINARY_AUDIO = "binary_audio"


class VoiceClient:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.events: list[dict[str, Any]] = []
        self._new = asyncio.Event()
        self._reader = asyncio.create_task(self._read())
        self.start: dict[str, Any] = {}
        self.paused_turn: int | None = None  # the turn whose answer the server paused (docs/protocol.md)
        self.resume_token: str | None = None  # the latest one: from session_start, then each resume_token event

    async def _read(self) -> None:
        try:
            async for msg in self.ws:
                if msg.type is aiohttp.WSMsgType.TEXT:
                    event = json.loads(msg.data)
                    if event["type"] in ("session_start", "resume_token"):
                        self.resume_token = event["resume_token"]
                elif msg.type is aiohttp.WSMsgType.BINARY:
                    event = {"type": BINARY_AUDIO, **unpack_audio_frame(msg.data)._asdict()}
                else:
                    continue
                event["_at"] = time.monotonic()
                self.events.append(event)
                self._track_pause(event)
                self._new.set()
        finally:
            self._new.set()

    def _track_pause(self, event: dict[str, Any]) -> None:
        if event["type"] == "paused":
            self.paused_turn = event["turn_id"]
        elif event["type"] in ("resumed", "interrupted") and event["turn_id"] == self.paused_turn:
            self.paused_turn = None

    def answer_audio(self, turn_id: int) -> list[dict[str, Any]]:
        """The `audio_response` events of a turn as a player keeps them: all of them unless it was interrupted,
        then those that arrived before `interrupted` (a pause keeps the queue, docs/protocol.md)."""
        chunks = []
        for event in self.events:
            if event.get("turn_id") != turn_id:
                continue
            if event["type"] == "interrupted":
                break
            if event["type"] == "audio_response":
                chunks.append(event)
        return chunks

    async def wait_for(self, predicate: Any, timeout: float = 10.0) -> dict[str, Any]:  # noqa: ASYNC109
        """The first recorded event matching `predicate` (a type name or a callable), waiting for it."""
        match = (lambda e: e["type"] == predicate) if isinstance(predicate, str) else predicate
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events:
                if match(event):
                    return event
            if self._reader.done():
                raise ConnectionError(f"connection closed ({self.ws.close_code}) before a matching event")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                types = [e["type"] for e in self.events]
                raise TimeoutError(f"no matching event; got {types}")
            self._new.clear()
            try:
                await asyncio.wait_for(self._new.wait(), remaining)
            except TimeoutError:
                continue

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send_str(json.dumps(message))

    async def stream(self, frames: list[bytes], realtime: bool = True) -> float:
        """Send binary frames (20 ms each) paced in real time; returns the monotonic time of the first frame."""
        started = time.monotonic()
        for index, frame in enumerate(frames):
            await self.ws.send_bytes(frame)
            if realtime:
                delay = started + (index + 1) * FRAME_MS / 1000 - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
        return started

    async def close(self) -> None:
        await self.ws.close()
        await self._reader


PROTOCOL = "voicechat.v1"


def subprotocols(token: str | None = None, resume: str | None = None) -> tuple[str, ...]:
    """What a client offers in `Sec-WebSocket-Protocol`: `voicechat.v1` first, then its credentials
    (docs/protocol.md, "Authentication"); the gateway selects `voicechat.v1` and never echoes the others."""
    return (PROTOCOL, *((f"bearer.{token}",) if token else ()), *((f"resume.{resume}",) if resume else ()))


async def connect(
    session: aiohttp.ClientSession,
    base_url: str,
    query: str = "",
    wait_start: bool = True,
    *,
    token: str | None = None,
    resume: str | None = None,
    compress: int = 0,
) -> VoiceClient:
    """Open a session (or resume one with its latest resume token), offering credentials as subprotocols;
    `compress`: offer permessage-deflate with that window size (0 = do not offer)."""
    ws = await session.ws_connect(
        f"{base_url}/ws/voice-chat{query}", protocols=subprotocols(token, resume), compress=compress
    )
    client = VoiceClient(ws)
    if wait_start:
        client.start = await client.wait_for("session_start")
    return client


async def start_session(
    session: aiohttp.ClientSession, base_url: str, *, attempts: int = 5, answer_s: float = 10.0
) -> VoiceClient:
    """Open a new session as docs/protocol.md ("Connecting") asks a client to: a retryable refusal (a fatal error
    with `retry_after_ms`, e.g. the session store not answering yet) is retried after that delay, `attempts` times
    at most; any other error, or no answer within `answer_s`, raises."""
    for _ in range(attempts):
        client = await connect(session, base_url, wait_start=False)
        first = await client.wait_for(lambda e: e["type"] in ("session_start", "error"), timeout=answer_s)
        if first["type"] == "session_start":
            client.start = first
            return client
        await client.close()
        if not (first.get("fatal") and first.get("retry_after_ms")):
            raise ConnectionError(f"session refused: {first['code']}: {first['message']}")
        await asyncio.sleep(first["retry_after_ms"] / 1000)
    raise ConnectionError(f"no session could start in {attempts} attempts (last: {first['code']})")
