"""The bounded recognition pool: final recognition passes run on at most `workers` threads (sized to the
machine), a pass waits at most `wait_s` for a free worker and is then refused with RESOURCE_EXHAUSTED (the
dialog worker reports `dialog_unavailable`). `/metrics` shows the passes waiting and how long each took
(docs/local_agent.md, "Compute")."""

import asyncio
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import grpc

from local_agent.validation import RequestError
from shared.metrics import RECOGNITION_QUEUE, RECOGNITION_SECONDS, RECOGNITIONS

T = TypeVar("T")


def cpu_count() -> int:
    return len(os.sched_getaffinity(0)) or 1


def pool_size(setting: int) -> int:
    """The configured size, or one worker per available core when the setting is 0."""
    return setting or cpu_count()


class RecognitionPool:
    def __init__(self, engine: str, workers: int, wait_s: float) -> None:
        self.engine = engine
        self.workers = workers
        self.wait_s = wait_s
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="local-cx-asr")
        self._slots = asyncio.Semaphore(workers)
        self.waiting = 0

    async def run(self, func: Callable[[], T]) -> T:
        """Run `func` on a pool thread once one is free; RequestError(RESOURCE_EXHAUSTED) after `wait_s`."""
        self.waiting += 1
        RECOGNITION_QUEUE.inc()
        try:
            async with asyncio.timeout(self.wait_s):
                await self._slots.acquire()
        except TimeoutError:
            RECOGNITIONS.labels(self.engine, "exhausted").inc()
            raise RequestError(
                grpc.StatusCode.RESOURCE_EXHAUSTED, f"all {self.workers} recognition workers busy for {self.wait_s}s"
            ) from None
        finally:
            self.waiting -= 1
            RECOGNITION_QUEUE.dec()
        started = time.perf_counter()
        try:
            result = await asyncio.get_running_loop().run_in_executor(self.executor, func)
            RECOGNITIONS.labels(self.engine, "ok").inc()
            return result
        finally:
            self._slots.release()
            RECOGNITION_SECONDS.observe(time.perf_counter() - started)

    def shutdown(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
