"""Call a tools endpoint over NATS request/reply: `await call_tool(nc, "search_products", {...})` -> dict."""

import asyncio
import time
from typing import Any

import msgspec
from nats.aio.client import Client as NATS
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.micro.request import ERROR_CODE_HEADER, ERROR_HEADER

from shared.subjects import tools_endpoint
from shared.tools.errors import ToolError

RETRY_NO_RESPONDERS_S = 0.05  # the first wait before asking again when no tools worker listens; doubled each time
RETRY_NO_RESPONDERS_MAX_S = 0.4
_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(dict[str, Any])


async def call_tool(
    nc: NATS,
    name: str,
    args: dict[str, Any],
    timeout: float = 2.0,  # noqa: ASYNC109
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The tool's JSON answer; raises ToolError with the service's code, or `timeout` / `unavailable`.

    While no tools worker listens, the request is made again (after 50 ms, then twice as long each time, up to
    400 ms) until `timeout` has passed: a worker that is (re)starting, or re-subscribing after a NATS outage or stall,
    is invisible for that moment. `headers` travel with the request (the caller's trace context: shared/tracing.py)."""
    payload = _encoder.encode(args)
    deadline = time.monotonic() + timeout
    pause = RETRY_NO_RESPONDERS_S
    while True:
        try:
            left = deadline - time.monotonic()
            msg = await nc.request(tools_endpoint(name), payload, timeout=max(left, 0.001), headers=headers)
            break
        except NoRespondersError as exc:
            if time.monotonic() + pause >= deadline:
                raise ToolError("unavailable", "no tools service is running") from exc
            await asyncio.sleep(pause)
            pause = min(2 * pause, RETRY_NO_RESPONDERS_MAX_S)
        except NatsTimeoutError as exc:
            raise ToolError("timeout", f"{name} did not answer within {timeout} s") from exc
    headers = msg.headers or {}
    code = headers.get(ERROR_CODE_HEADER)
    if code:
        raise ToolError(code, headers.get(ERROR_HEADER, ""))
    try:
        return _decoder.decode(msg.data)
    except msgspec.DecodeError as exc:
        raise ToolError("internal", f"{name} answered with invalid JSON") from exc
