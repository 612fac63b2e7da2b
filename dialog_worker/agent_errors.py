"""How a turn treats an agent that cannot take it: retry at the very start, then the error code the client sees.

A call that fails UNAVAILABLE, DEADLINE_EXCEEDED or CANCELLED before anything came back is tried again every
`RETRY_INTERVAL_S` until `VOICECHAT_DIALOG_START_RETRY_S` has passed (a local agent restarting after a crash is
back within that; its sessions survive, local_agent/sessions.py; an agent told to stop cancels the calls it had
received but not yet started, which its replacement then takes: a rolling update). A call this worker cancels
itself raises `asyncio.CancelledError`, never a `GoogleAPICallError`, so it is never retried. An agent that
cannot be reached, or that refuses the turn for lack of capacity (RESOURCE_EXHAUSTED), is `dialog_unavailable`;
any other failure is `turn_failed` (docs/protocol.md).
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from google.api_core.exceptions import GoogleAPICallError

from shared.protocol import ErrorCode

T = TypeVar("T")
RETRY_INTERVAL_S = 0.25
RETRYABLE = frozenset({"UNAVAILABLE", "DEADLINE_EXCEEDED", "CANCELLED"})


def status_of(exc: GoogleAPICallError) -> str:
    code = exc.grpc_status_code
    return code.name if code is not None else "UNKNOWN"


def error_code(exc: GoogleAPICallError) -> ErrorCode:
    status = status_of(exc)
    unreachable = status == "UNAVAILABLE" and "failed to connect" in str(exc.message).lower()
    return "dialog_unavailable" if unreachable or status == "RESOURCE_EXHAUSTED" else "turn_failed"


async def retry_at_start(
    attempt: Callable[[list[bool]], Awaitable[T]], deadline_s: float, failed: Callable[[str], None]
) -> T:
    """`attempt(answered)` until it succeeds, fails after setting `answered[0]`, fails for another reason, or the
    deadline leaves no room for another try; `failed(status)` is told of every failure."""
    deadline = time.monotonic() + deadline_s
    while True:
        answered = [False]
        try:
            return await attempt(answered)
        except GoogleAPICallError as exc:
            status = status_of(exc)
            failed(status)
            if answered[0] or status not in RETRYABLE or time.monotonic() + RETRY_INTERVAL_S > deadline:
                raise
        await asyncio.sleep(RETRY_INTERVAL_S)
