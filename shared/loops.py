"""Background loops that cannot die: every error is counted, logged once per burst, and the loop carries on.

Failover depends on these loops (liveness beacons and watches, re-claims, announcements), and nats-py raises on
publish while it is disconnected and its pending buffer is full, so no loop body may end its task.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable

from shared.logs import get_logger
from shared.metrics import LOOP_ERRORS

log = get_logger(__name__)


class ErrorBurst:
    """Counts every error of a loop; logs the first of a burst (a burst ends after `quiet_s` without errors)."""

    def __init__(self, loop: str, quiet_s: float = 5.0) -> None:
        self.loop = loop
        self.quiet_s = quiet_s
        self.count = 0
        self._last: float | None = None
        self._counter = LOOP_ERRORS.labels(loop)

    def failed(self, exc: BaseException, now: float | None = None) -> bool:
        """Record an error; True when it starts a burst (and was logged)."""
        now = time.monotonic() if now is None else now
        self.count += 1
        self._counter.inc()
        starts = self._last is None or now - self._last >= self.quiet_s
        self._last = now
        if starts:
            log.warning("loop_error", loop=self.loop, error=f"{type(exc).__name__}: {exc}")
        return starts


async def forever(loop: str, step: Callable[[], Awaitable[None]], interval_s: float) -> None:
    """Run `step` every `interval_s` until cancelled, whatever it raises."""
    burst = ErrorBurst(loop)
    while True:
        try:
            await step()
        except Exception as exc:  # noqa: BLE001 - counted and logged per burst: the loop must go on
            burst.failed(exc)
        await asyncio.sleep(interval_s)


async def guarded(burst: ErrorBurst, call: Awaitable[object]) -> bool:
    """Await `call`; an error is counted in `burst` instead of raised. False when it failed."""
    try:
        await call
    except Exception as exc:  # noqa: BLE001 - counted and logged per burst by the caller's loop
        burst.failed(exc)
        return False
    return True
