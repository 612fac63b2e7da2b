"""Bounded shutdown steps: a step that hangs cannot hold a process's exit past its pod's grace
(`terminationGracePeriodSeconds` in deploy/k8s: 45 s for the gateway, 30 s for the others)."""

import asyncio
from collections.abc import Coroutine
from typing import Any

from shared.logs import get_logger

log = get_logger(__name__)

STOP_STEP_S = 2.0  # each step after a service's drain (closing its ops server, its log writer, its tracker)


async def bounded(step: str, call: Coroutine[Any, Any, Any], within_s: float = STOP_STEP_S) -> None:
    """Run one shutdown step for `within_s` at most; past it the step is abandoned (cancelled, not awaited) and
    `shutdown_step_timed_out` names it."""
    task = asyncio.create_task(call)
    done, _ = await asyncio.wait({task}, timeout=within_s)
    if not done:
        log.warning("shutdown_step_timed_out", step=step, within_s=within_s)
        task.cancel()
