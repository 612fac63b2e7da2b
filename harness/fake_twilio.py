"""A fake Twilio for tests and benchmarks: Twilio's side of one bidirectional Media Stream (docs/telephony.md).

It speaks the WebSocket protocol as Twilio documents it, written independently of the gateway's schemas: JSON text
frames `connected`, `start` (streamSid, callSid, accountSid, tracks, mediaFormat audio/x-mulaw 8000 Hz mono,
customParameters), then a `media` frame every 20 ms of real time for as long as the call lasts (the caller's
audio, 160 bytes of mu-law; silence when the caller says nothing, as a phone line does), `dtmf` for keys, and
`stop` at hang-up. What the server sends back goes into a playback queue that plays out in real time: `media`
payloads are queued, a `mark` is echoed when playback reaches it, `clear` empties the queue and echoes the marks
still in it.
"""

import asyncio
import base64
import contextlib
import json
import secrets
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import numpy as np

from shared import mulaw
from shared.audio import Samples, array_to_pcm

FRAME_S = 0.02
FRAME_BYTES = 160  # 20 ms of 8 kHz mu-law
SILENCE = b"\xff" * FRAME_BYTES


def sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def ulaw_frames(samples_8k: Samples) -> list[bytes]:
    """8 kHz speech as 20 ms mu-law frames (the last one padded with silence)."""
    ulaw = mulaw.encode(array_to_pcm(samples_8k))
    frames = [ulaw[i : i + FRAME_BYTES] for i in range(0, len(ulaw), FRAME_BYTES)]
    if frames and len(frames[-1]) < FRAME_BYTES:
        frames[-1] = frames[-1] + SILENCE[len(frames[-1]) :]
    return frames


@dataclass
class Received:
    at: float
    message: dict[str, Any]


@dataclass
class Playback:
    """Twilio's outbound buffer: audio and marks in the order they came."""

    queue: deque[bytes | str] = field(default_factory=deque)  # bytes: audio; str: a mark's name
    played: bytearray = field(default_factory=bytearray)  # mu-law actually played to the caller
    played_at: list[float] = field(default_factory=list)  # when each played 20 ms frame started

    def buffered_bytes(self) -> int:
        return sum(len(item) for item in self.queue if isinstance(item, bytes))


class FakeTwilioCall:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse, parameters: Mapping[str, str]) -> None:
        self.ws = ws
        self.parameters = dict(parameters)
        self.stream_sid, self.call_sid, self.account_sid = sid("MZ"), sid("CA"), sid("AC")
        self.received: list[Received] = []
        self.marks_echoed: list[tuple[float, str]] = []
        self.playback = Playback()
        self.mic: deque[bytes] = deque()
        self.mic_sent = 0  # media frames sent so far
        self.started = 0.0
        self._sequence = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = asyncio.Event()
        self._arrived = asyncio.Event()
        self._echoed = asyncio.Event()

    @classmethod
    async def dial(
        cls,
        http: aiohttp.ClientSession,
        url: str,
        parameters: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        media_format: Mapping[str, Any] | None = None,
    ) -> "FakeTwilioCall":
        """Open the stream as Twilio does after `<Connect><Stream>`: `connected`, `start`, then media."""
        ws = await http.ws_connect(url, headers=dict(headers or {}), autoping=True)
        call = cls(ws, parameters or {})
        await call.send({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        await call.send_start(media_format)
        call.started = time.monotonic()
        call._tasks = [
            asyncio.create_task(call._read()),
            asyncio.create_task(call._play()),
            asyncio.create_task(call._microphone()),
        ]
        return call

    def _next_sequence(self) -> str:
        self._sequence += 1
        return str(self._sequence)

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send_str(json.dumps(message))

    async def send_start(self, media_format: Mapping[str, Any] | None = None) -> None:
        fmt = dict(media_format or {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1})
        start = {
            "accountSid": self.account_sid,
            "streamSid": self.stream_sid,
            "callSid": self.call_sid,
            "tracks": ["inbound"],
            "mediaFormat": fmt,
            "customParameters": self.parameters,
        }
        await self.send(
            {"event": "start", "sequenceNumber": self._next_sequence(), "start": start, "streamSid": self.stream_sid}
        )

    def media_message(self, payload: bytes) -> dict[str, Any]:
        self.mic_sent += 1
        media = {
            "track": "inbound",
            "chunk": str(self.mic_sent),
            "timestamp": str(round((self.mic_sent - 1) * FRAME_S * 1000)),
            "payload": base64.b64encode(payload).decode(),
        }
        return {"event": "media", "sequenceNumber": self._next_sequence(), "media": media, "streamSid": self.stream_sid}

    async def say(self, samples_8k: Samples) -> float:
        """Queue the caller's speech on the line; returns when it has all been sent, with the send time of its
        first frame."""
        frames = ulaw_frames(samples_8k)
        first = self.mic_sent + len(self.mic)
        self.mic.extend(frames)
        await asyncio.sleep(max(0.0, self.frame_time(first + len(frames)) - time.monotonic()))
        return self.frame_time(first)

    def frame_time(self, index: int) -> float:
        """When media frame `index` (0-based) is sent: frames go out on a fixed 20 ms schedule."""
        return self.started + index * FRAME_S

    async def press(self, digits: str) -> None:
        for digit in digits:
            await self.send(
                {
                    "event": "dtmf",
                    "streamSid": self.stream_sid,
                    "sequenceNumber": self._next_sequence(),
                    "dtmf": {"track": "inbound_track", "digit": digit},
                }
            )

    async def hang_up(self, send_stop: bool = True) -> None:
        """End the call: `stop` then close (as Twilio does), or drop the connection without `stop`."""
        if send_stop and not self.ws.closed:
            stop = {"accountSid": self.account_sid, "callSid": self.call_sid}
            with contextlib.suppress(ConnectionError):
                await self.send(
                    {
                        "event": "stop",
                        "sequenceNumber": self._next_sequence(),
                        "streamSid": self.stream_sid,
                        "stop": stop,
                    }
                )
        self._closed.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.ws.close()

    async def wait_for(self, event: str, within: float = 30.0, after: float = 0.0) -> Received:
        """The first message of type `event` received at or after `after` (monotonic time)."""
        async with asyncio.timeout(within):
            while True:
                found = next((r for r in self.received if r.message.get("event") == event and r.at >= after), None)
                if found is not None:
                    return found
                if self._closed.is_set():
                    raise ConnectionError(f"the stream closed before {event!r}")
                self._arrived.clear()
                await self._arrived.wait()

    async def played(self, name: str, within: float = 60.0) -> float:
        """When playback reached the mark `name` (or a `clear` dropped it) and it was echoed."""
        async with asyncio.timeout(within):
            while True:
                found = next((at for at, echoed in self.marks_echoed if echoed == name), None)
                if found is not None:
                    return found
                self._echoed.clear()
                await self._echoed.wait()

    async def wait_closed(self, within: float) -> int | None:
        """The close code once the server has closed the stream (None if it is still open)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closed.wait(), within)
        return self.ws.close_code

    def media_received(self, after: float = 0.0) -> list[Received]:
        return [item for item in self.received if item.message.get("event") == "media" and item.at >= after]

    def played_pcm(self) -> Samples:
        pcm: Samples = np.frombuffer(mulaw.decode(bytes(self.playback.played)), np.int16)
        return pcm

    async def _read(self) -> None:
        try:
            async for msg in self.ws:
                if msg.type is not aiohttp.WSMsgType.TEXT:
                    continue
                message = json.loads(msg.data)
                self.received.append(Received(time.monotonic(), message))
                await self._on_message(message)
                self._arrived.set()
        finally:
            self._closed.set()
            self._arrived.set()

    async def _on_message(self, message: dict[str, Any]) -> None:
        event = message.get("event")
        if event == "media":
            self.playback.queue.append(base64.b64decode(message["media"]["payload"]))
        elif event == "mark":
            self.playback.queue.append(message["mark"]["name"])
        elif event == "clear":
            names = [item for item in self.playback.queue if isinstance(item, str)]
            self.playback.queue.clear()
            for name in names:
                await self._echo_mark(name)

    async def _echo_mark(self, name: str) -> None:
        self.marks_echoed.append((time.monotonic(), name))
        self._echoed.set()
        await self.send(
            {
                "event": "mark",
                "sequenceNumber": self._next_sequence(),
                "streamSid": self.stream_sid,
                "mark": {"name": name},
            }
        )

    async def _play(self) -> None:
        """Plays 20 ms of the buffer per 20 ms; marks are echoed once the audio before them has played."""
        tick = time.monotonic()
        queue = self.playback.queue
        while True:
            tick += FRAME_S
            await asyncio.sleep(max(0.0, tick - time.monotonic()))
            while queue and isinstance(queue[0], str):
                name = queue.popleft()
                assert isinstance(name, str)
                await self._echo_mark(name)
            need = FRAME_BYTES
            started = False
            while need and queue and isinstance(queue[0], bytes):
                chunk = queue.popleft()
                assert isinstance(chunk, bytes)
                if not started:
                    self.playback.played_at.append(time.monotonic())
                    started = True
                self.playback.played += chunk[:need]
                if len(chunk) > need:
                    queue.appendleft(chunk[need:])
                need -= min(need, len(chunk))

    async def _microphone(self) -> None:
        """One media frame every 20 ms on a fixed schedule: the caller's queued speech, else line silence."""
        index = 0
        while True:
            await asyncio.sleep(max(0.0, self.frame_time(index) - time.monotonic()))
            frame = self.mic.popleft() if self.mic else SILENCE
            try:
                await self.send(self.media_message(frame))
            except ConnectionError:
                return
            index += 1
