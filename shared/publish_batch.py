"""Publishes held for a short window and sent together, so that they leave in one socket write
(`VOICECHAT_PUBLISH_WINDOW_MS`; 0 sends each at once).

nats-py writes what is pending once per event-loop turn in which something was published. Audio frames of many
sessions arrive spread over each 20 ms, so that is one `send` system call, and one wake-up of nats-server, per
frame: the largest single cost of the gateway and of the VAD worker (`python -m bench.system.profile_at 50`: 22 %
and 26 % of their busy time). Held for up to the window, what every session of the process publishes meanwhile
goes out in one write (docs/benchmarks.md has the measurement).

Everything published through one batch leaves in the order it was given (one sender task), so a session's audio
and controls at the gateway, or its speech events and turn audio at the VAD worker, keep their order. A publish
that fails (nats-py raises while its pending buffer is full) is reported to the callback given with it, and so is one
given while `limit_bytes` wait here already (NATS stalled: the sender waits on nats-py); the sender never stops on
an error.
"""

import asyncio
from collections.abc import Callable

from nats.aio.client import Client as NATS

Failed = Callable[[BaseException], None]


class PublishBatch:
    def __init__(self, nc: NATS, window_s: float, limit_bytes: int = 64 * 1024 * 1024) -> None:
        self._nc = nc
        self._window_s = window_s
        self._limit_bytes = limit_bytes
        self._held: list[tuple[str, bytes, dict[str, str] | None, Failed]] = []
        self.held_bytes = 0  # what waits here, on top of nats-py's own pending buffer
        self._due = asyncio.Event()
        self._sender: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._window_s > 0:
            self._sender = asyncio.create_task(self._send_forever())

    async def stop(self) -> None:
        """Stop holding; what is held is sent now."""
        if self._sender is not None:
            self._sender.cancel()
            await asyncio.gather(self._sender, return_exceptions=True)
            self._sender = None
        await self._send_held()

    async def publish(
        self, subject: str, payload: bytes, failed: Failed, headers: dict[str, str] | None = None
    ) -> None:
        if self._sender is None:
            await self._send(subject, payload, headers, failed)
            return
        if self.held_bytes + len(payload) > self._limit_bytes:
            failed(BufferError("publish batch full: NATS takes nothing"))
            return
        self._held.append((subject, payload, headers, failed))
        self.held_bytes += len(payload)
        self._due.set()

    async def _send_forever(self) -> None:
        while True:
            await self._due.wait()
            await asyncio.sleep(self._window_s)
            self._due.clear()
            await self._send_held()

    async def _send_held(self) -> None:
        held, self._held, self.held_bytes = self._held, [], 0
        for subject, payload, headers, failed in held:
            await self._send(subject, payload, headers, failed)

    async def _send(self, subject: str, payload: bytes, headers: dict[str, str] | None, failed: Failed) -> None:
        try:
            await self._nc.publish(subject, payload, headers=headers)
        except Exception as exc:  # noqa: BLE001 - reported to the publisher's callback (counted, logged per burst)
            failed(exc)
