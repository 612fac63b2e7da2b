"""Call a tools endpoint over NATS request/reply: `await call_tool(nc, "search_products", {...})` -> dict."""

import asyncio
from typing import Any

import msgspec
from nats.aio.client import Client as NATS
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.micro.request import ERROR_CODE_HEADER, ERROR_HEADER

from shared.subjects import tools_endpoint
from shared.tools.errors import ToolError

RETRY_NO_RESPONDERS_S = 0.05
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

    `headers` travel with the request (the caller's trace context: shared/tracing.py)."""
    payload = _encoder.encode(args)
    try:
        try:
            msg = await nc.request(tools_endpoint(name), payload, timeout=timeout, headers=headers)
        except NoRespondersError:  # a worker (re)starting can be briefly invisible: one more try
            await asyncio.sleep(RETRY_NO_RESPONDERS_S)
            msg = await nc.request(tools_endpoint(name), payload, timeout=timeout, headers=headers)
    except NoRespondersError as exc:
        raise ToolError("unavailable", "no tools service is running") from exc
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
