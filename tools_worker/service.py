"""nats.micro wiring of the `tools` service: one task per request, bounded, so a slow lookup never blocks others.

nats.micro runs an endpoint's handler for one message at a time; the handler here only takes a slot and spawns
a task, which decodes, calls the backend, records metrics and responds. `drain` stops the endpoints (no new
requests) and waits, bounded, for the tasks in flight.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import msgspec
from nats.aio.client import Client as NATS
from nats.errors import Error as NatsError
from nats.micro import add_service
from nats.micro.request import Request
from nats.micro.service import Service

from shared import tracing
from shared.logs import get_logger
from shared.metrics import TOOL_LATENCY, TOOL_REQUESTS
from shared.subjects import TOOLS_GROUP, TOOLS_SERVICE
from shared.tools.errors import ToolError
from shared.tools.schemas import ErrorBody, ErrorResponse, encoder, get_decoder, search_decoder
from tools_worker import __version__
from tools_worker.backend import Backend

log = get_logger(__name__)
T = TypeVar("T")
Tool = Callable[[bytes], Awaitable[msgspec.Struct]]


class ToolsService:
    def __init__(self, nc: NATS, backend: Backend, max_in_flight: int = 512) -> None:
        self._nc = nc
        self._backend = backend
        self._slots = asyncio.Semaphore(max_in_flight)
        self._tasks: set[asyncio.Task[None]] = set()
        self._service: Service | None = None

    @property
    def running(self) -> bool:
        return self._service is not None

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    async def start(self) -> None:
        service = await add_service(
            self._nc, name=TOOLS_SERVICE, version=__version__, description="Product search and lookup"
        )
        group = service.add_group(name=TOOLS_GROUP)
        for name, tool in (("search_products", self._search), ("get_product", self._get_product)):
            await group.add_endpoint(name=name, handler=self._spawner(name, tool))
        await self._nc.flush()  # the endpoints' subscriptions are live on the server before anyone is told
        self._service = service
        log.info("tools_service_started", version=__version__, id=service.id)

    async def drain(self, timeout_s: float = 10.0) -> None:
        """Take no new requests, then wait up to `timeout_s` for the ones in flight (the rest are cancelled)."""
        if self._service is not None:
            await self._service.stop()
            self._service = None
        if self._tasks:
            done, pending = await asyncio.wait(set(self._tasks), timeout=timeout_s)
            for task in pending:
                task.cancel()
            log.info("tools_service_drained", finished=len(done), cancelled=len(pending))

    def _spawner(self, name: str, tool: Tool) -> Callable[[Request], Awaitable[None]]:
        async def handler(request: Request) -> None:
            await self._slots.acquire()
            task = asyncio.create_task(self._answer(name, tool, request))
            self._tasks.add(task)
            task.add_done_callback(self._finished)

        return handler

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._slots.release()

    async def _answer(self, name: str, tool: Tool, request: Request) -> None:
        started = time.perf_counter()
        span = tracing.start(f"tools {name}", tracing.extract(request.headers), tool=name)
        error: ToolError | None = None
        try:
            body = encoder.encode(await tool(request.data))
        except ToolError as exc:
            error = exc
        except Exception as exc:
            log.exception("tool_failed", tool=name)
            error = ToolError("internal", f"internal error: {type(exc).__name__}")
        TOOL_REQUESTS.labels(name, error.code if error else "ok").inc()
        TOOL_LATENCY.labels(name).observe(time.perf_counter() - started)
        tracing.end(span, error=error.code if error else None)
        try:
            if error is None:
                await request.respond(body)
            else:
                await _respond_error(request, error)
        except (NatsError, ValueError) as exc:
            log.warning("tool_reply_failed", tool=name, error=str(exc))

    async def _search(self, data: bytes) -> msgspec.Struct:
        request = _decode(search_decoder, data)
        if not request.query.strip():
            raise ToolError("invalid_request", "query must not be empty")
        return await self._backend.search(request)

    async def _get_product(self, data: bytes) -> msgspec.Struct:
        request = _decode(get_decoder, data)
        return await self._backend.get_product(request.product_id)


def _decode(decoder: msgspec.json.Decoder[T], data: bytes) -> T:
    try:
        return decoder.decode(data)
    except msgspec.ValidationError as exc:
        raise ToolError("invalid_request", str(exc)) from exc
    except msgspec.DecodeError as exc:
        raise ToolError("invalid_request", f"request is not valid JSON: {exc}") from exc


async def _respond_error(request: Request, error: ToolError) -> None:
    body = encoder.encode(ErrorResponse(error=ErrorBody(code=error.code, message=error.message)))
    header = " ".join(error.message.split())[:200]  # a header value: one line, bounded
    await request.respond_error(error.code, header, data=body)
