"""Bounded send queue of one connection: one writer task sends; a client that stops reading is cut off.

Every outgoing frame goes through here, so a slow client only ever blocks its own writer task; when its queue
is full, or one send takes longer than `send_timeout_s`, the connection is closed with 1008 and its transport
aborted, never slowing any other session.
"""

import asyncio
import contextlib

from aiohttp import WSCloseCode, WSMsgType, web

from shared.logs import get_logger

log = get_logger(__name__)


class SlowClient(Exception):
    """The client does not read fast enough."""


class Outbox:
    def __init__(self, ws: web.WebSocketResponse, request: web.Request, size: int, send_timeout_s: float) -> None:
        self.ws = ws
        self.request = request
        self.send_timeout_s = send_timeout_s
        self._queue: asyncio.Queue[tuple[bytes, WSMsgType]] = asyncio.Queue(maxsize=size)
        self._writer = asyncio.create_task(self._write())
        self.cut_off = False
        self._closing: asyncio.Task[None] | None = None

    def put(self, data: bytes, opcode: WSMsgType = WSMsgType.TEXT) -> None:
        """Queue one frame: a JSON text frame (already UTF-8: relayed events are sent as they came off the bus),
        or a binary one (response audio with `audio_out=binary`, gateway/audio_out.py)."""
        if self.cut_off or self.ws.closed:
            return
        try:
            self._queue.put_nowait((data, opcode))
        except asyncio.QueueFull:
            self._cut_off("send queue full")

    async def _write(self) -> None:
        while True:
            data, opcode = await self._queue.get()
            try:
                async with asyncio.timeout(self.send_timeout_s):  # a timer, not a task per frame like wait_for
                    await self.ws.send_frame(data, opcode)
            except TimeoutError:
                self._cut_off("send timed out")
                return
            except ConnectionError:
                return
            finally:
                self._queue.task_done()

    def _cut_off(self, reason: str) -> None:
        if self.cut_off:
            return
        self.cut_off = True
        log.warning("slow_client_closed", reason=reason)
        self._writer.cancel()
        self._closing = asyncio.create_task(self._close())

    async def _close(self) -> None:
        with contextlib.suppress(TimeoutError, ConnectionError):
            await asyncio.wait_for(self.ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"client too slow"), 1.0)
        if self.request.transport is not None:
            self.request.transport.abort()

    async def close(self) -> None:
        """Flush what is queued (bounded by the send timeout), then stop the writer."""
        if not self.cut_off and not self.ws.closed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queue.join(), self.send_timeout_s)
        self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer
        if self._closing is not None:
            await self._closing
