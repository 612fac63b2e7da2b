"""One load step: N sessions spread over load processes, a warm-up, a measured window, merged results."""

import multiprocessing
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psutil

from bench.system.driver import Mode, Window
from bench.system.hist import Histograms
from bench.system.loadgen import STAGGER_S, LoadPlan, Timing, process_main
from bench.system.procs import ProcWatch
from bench.system.script import Script

SESSIONS_PER_PROCESS = 100
ROTATION = (Mode.MESSAGE, Mode.SPOKEN, Mode.COMPLETE)
Probe = Callable[[], dict[str, float]]


@dataclass(frozen=True)
class StepConfig:
    url: str
    sessions: int
    measure_s: float
    rotation: tuple[Mode, ...] = ROTATION
    peer: bool = False
    per_process: int = SESSIONS_PER_PROCESS


@dataclass
class StepResult:
    sessions: int
    histograms: Histograms
    counts: Counter[str]
    processes: dict[str, dict[str, float]]  # CPU % of a core and RSS per process group, over the window
    machine_busy_percent: float  # every process on the machine, % of one core (2 cores = 200)
    probe: dict[str, float]  # change of the probed counters over the window
    window_s: float


CONNECT_TIMEOUT_S = 60.0  # load processes spawn and connect within this, plus 0.2 s per session
LATE_S = 1.0  # a window whose start the parent reached later than this was not measured: the step fails


def _plans(config: StepConfig) -> list[LoadPlan]:
    splits = range(0, config.sessions, config.per_process)
    return [
        LoadPlan(
            url=config.url,
            sessions=min(config.per_process, config.sessions - first),
            first_index=first,
            rotation=config.rotation,
            peer=config.peer,
        )
        for first in splits
    ]


def _timing(measure_s: float) -> Timing:
    """Streaming starts now (every session is connected); the window opens after the staggered first turns."""
    start_at = time.monotonic() + 0.5
    window = Window(start_at + STAGGER_S + 2.0, start_at + STAGGER_S + 2.0 + measure_s)
    return Timing(start_at, window, window.end + 1.0)


def _sleep_until(at: float) -> None:
    time.sleep(max(0.0, at - time.monotonic()))


def run_step(
    config: StepConfig,
    script: Script,
    services: ProcWatch,
    probe: Probe | None = None,
    at_window: Callable[[], object] | None = None,
) -> StepResult:
    """One step; `at_window` is called when the measured window opens (e.g. to start a profiler)."""
    context = multiprocessing.get_context("spawn")
    results, ready = context.Queue(), context.Queue()
    plans = _plans(config)
    timings = [context.Queue() for _ in plans]
    workers = [
        context.Process(target=process_main, args=(plan, script, ready, timing, results))
        for plan, timing in zip(plans, timings, strict=True)
    ]
    for worker in workers:
        worker.start()
    for _ in workers:  # spawning and connecting may take long on a loaded machine, or with a slow server
        ready.get(timeout=CONNECT_TIMEOUT_S + config.sessions * 0.2)
    timing = _timing(config.measure_s)
    for queue in timings:
        queue.put(timing)
    loadgen = ProcWatch({"loadgen": [w.pid for w in workers if w.pid is not None]})
    window = timing.window
    _sleep_until(window.start)
    late = time.monotonic() - window.start > LATE_S  # the parent itself was starved
    services.start(window.start)
    loadgen.start(window.start)
    if at_window is not None:
        at_window()
    before = probe() if probe else {}
    busy = _busy_seconds()
    _sleep_until(window.end)
    processes = {**services.stop(window.end), **loadgen.stop(window.end)}
    busy_percent = round(100 * (_busy_seconds() - busy) / (window.end - window.start), 1)
    after = probe() if probe else {}
    histograms, counts = Histograms(), Counter[str]()
    for _ in workers:
        result: dict[str, Any] = results.get(timeout=timing.end_at - time.monotonic() + 60)
        histograms.add_encoded(result["histograms"])
        counts.update(result["counts"])
    for worker in workers:
        worker.join(timeout=10)
    if late:
        counts["window_started_late"] += 1
    delta = {name: after[name] - before.get(name, 0.0) for name in after}
    return StepResult(config.sessions, histograms, counts, processes, busy_percent, delta, window.end - window.start)


def _busy_seconds() -> float:
    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))
