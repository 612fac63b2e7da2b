"""System benchmark (`make bench`): real-time sessions through the whole stack, a capacity search, a Pipecat peer.

One run: ours and the peer at equal session counts (bench/system/fair.py), then our capacity search (25-session
steps above 200), then the peer's capacity under the rule both are held to. Quick mode (the default) keeps to a few
minutes; `--full` runs longer windows, counts up to 600, and py-spy. Writes .bench/system.json, .bench/report.md
and .bench/system-*.png.
"""

import os
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from bench.system import capacity, fair, peer, profile, report
from bench.system.ours import Target, running_target
from bench.system.script import TEXT, Script, build
from bench.system.step import StepConfig, StepResult, run_step


@dataclass(frozen=True)
class Plan:
    equal: tuple[int, ...]  # ours and the peer, interleaved
    steps: tuple[int, ...]  # our capacity search
    peer_more: tuple[int, ...]  # the peer's capacity search, after the equal counts
    measure_s: float


QUICK = Plan(
    equal=(10, 20, 50),
    steps=(50, 100, 150, 200, *range(225, 401, 25)),
    peer_more=(75, 100, 150, 200, 250, 300),
    measure_s=10.0,
)
FULL = Plan(
    equal=(10, 20, 50),
    steps=(50, 100, 150, 200, *range(225, 601, 25)),
    peer_more=(75, 100, 150, 200, 250, 300, 400),
    measure_s=30.0,
)
PROFILE_S = 10


def profiled_step(target: Target, script: Script, sessions: int) -> tuple[StepResult, dict[str, Any]]:
    """One step of `sessions` with py-spy on the Python services over its window: the step (its figures are not
    the capacity search's) and each service's top self-time frames (collapsed stacks saved in .bench/)."""
    pids = {name: pid for name, pid in target.pids().items() if name in profile.PROFILED}
    config = StepConfig(target.url, sessions, PROFILE_S + 2)
    step = run_step(config, script, target.watch, target.probe, lambda: profile.record(pids, PROFILE_S, report.OUT))
    time.sleep(1)  # py-spy writes its file when it ends
    return step, profile.summarise(report.OUT)


@contextmanager
def _peer_or_none(errors: dict[str, str]) -> Iterator[peer.PeerTarget | None]:
    """The peer's server, or None (with the reason in `errors`) when it cannot be installed or started here."""
    with ExitStack() as stack:
        try:
            running: peer.PeerTarget | None = stack.enter_context(peer.running_peer())
        except peer.PeerUnavailable as exc:
            errors["peer"] = str(exc)
            print(f"Pipecat peer unavailable: {exc}", flush=True)
            running = None
        yield running


def run(quick: bool = True) -> dict[str, Any]:
    config = QUICK if quick else FULL
    script = build()
    figures: dict[str, Any] = {"mode": "quick" if quick else "full", "machine": _machine()}
    figures["script"] = f'"{TEXT}", {script.seconds:.2f} s, VAD start at frame {script.start_frame}'
    errors: dict[str, str] = {}
    with running_target() as target, _peer_or_none(errors) as peer_target:
        comparison = fair.compare(target, peer_target, script, config.equal, config.measure_s)
        steps = capacity.search(target, script, config.steps, config.measure_s)
        passing = fair.highest_passing(steps)
        if peer_target is not None:
            comparison["peer_capacity"] = fair.peer_capacity(
                peer_target, script, comparison, config.peer_more, config.measure_s
            )
        figures["profile"] = profiled_step(target, script, passing)[1] if passing and not quick else {}
    comparison["ours_spoken_capacity"] = fair.ours_spoken_capacity(comparison, steps)
    figures.update(steps=steps, capacity=passing, fair=comparison, errors=errors, machine_after=_machine())
    report.write(figures)
    print(f"capacity: {passing} sessions; peer: {comparison.get('peer_capacity', {}).get('capacity', errors)}")
    print(f"report: {report.OUT / 'report.md'}")
    return {key: figures[key] for key in ("capacity", "steps", "fair", "errors", "machine", "machine_after", "profile")}


def _machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in _cpuinfo() if line.startswith("model name")), "?")
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return f"{psutil.cpu_count()} cores ({model}), {psutil.virtual_memory().total / 2**30:.0f} GiB, load avg {load}"


def _cpuinfo() -> list[str]:
    path = Path("/proc/cpuinfo")
    return path.read_text().splitlines() if path.exists() else []
