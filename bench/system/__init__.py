"""System benchmark (`make bench`): real-time sessions through the whole stack, a capacity search, a Pipecat peer.

Quick mode (the default) keeps to about two minutes; `--full` runs longer steps, more of them, and py-spy.
Writes .bench/system.json, .bench/report.md and .bench/system-*.png.
"""

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from bench.system import capacity, peer, profile, report
from bench.system.ours import Target, running_target
from bench.system.script import TEXT, Script, build
from bench.system.step import StepConfig, run_step, window_offset


@dataclass(frozen=True)
class Plan:
    steps: tuple[int, ...]
    measure_s: float
    peer_sessions: tuple[int, ...]


QUICK = Plan(steps=(50, 100, 200, 300), measure_s=10.0, peer_sessions=(10,))
FULL = Plan(steps=(50, 100, 200, 300, 400, 500, 600), measure_s=30.0, peer_sessions=(10, 20))
PROFILE_S = 10


def _profile(target: Target, script: Script, sessions: int) -> dict[str, Any]:
    """Re-run the highest passing count with py-spy on the Python services (these figures are not reported)."""
    pids = {name: pid for name, pid in target.pids().items() if name in profile.PROFILED}
    profile.record_later(pids, window_offset(sessions), PROFILE_S, report.OUT)
    run_step(StepConfig(target.url, sessions, PROFILE_S + 2), script, target.watch, target.probe)
    time.sleep(1)
    return profile.summarise(report.OUT)


def _passing(steps: list[dict[str, Any]]) -> list[int]:
    """Counts that passed, up to the first failure (a later pass after a failure does not count)."""
    passing = []
    for step in steps:
        if step["failures"]:
            break
        passing.append(step["sessions"])
    return passing


def _peer(script: Script, sessions: tuple[int, ...], measure_s: float) -> dict[str, Any]:
    try:
        return {"runs": [peer.measure(script, n, measure_s) for n in sessions]}
    except peer.PeerUnavailable as exc:
        return {"error": str(exc)}


def _ratios(steps: list[dict[str, Any]], peer_figures: dict[str, Any]) -> dict[str, Any]:
    ours = next((s for s in steps if s["sessions"] == 100), steps[-1])
    if "runs" not in peer_figures:
        return {}
    theirs = peer_figures["runs"][0]
    spoken_ours = ours["latency_ms"]["spoken_barge_in"]["p50_ms"]
    spoken_theirs = theirs["spoken_barge_in"]["p50_ms"]
    return {
        "our_sessions": ours["sessions"],
        "peer_sessions": theirs["sessions"],
        "cpu_per_session_peer_over_ours": round(theirs["cpu_percent_per_session"] / ours["cpu_percent_per_session"], 1),
        "spoken_barge_in_p50_peer_over_ours": round(spoken_theirs / spoken_ours, 1)
        if spoken_ours and spoken_theirs
        else None,
    }


def run(quick: bool = True) -> dict[str, Any]:
    config = QUICK if quick else FULL
    script = build()
    figures: dict[str, Any] = {"mode": "quick" if quick else "full", "machine": _machine()}
    figures["script"] = f'"{TEXT}", {script.seconds:.2f} s, VAD start at frame {script.start_frame}'
    with running_target() as target:
        steps = capacity.search(target, script, config.steps, config.measure_s)
        passing = _passing(steps)
        figures["profile"] = _profile(target, script, passing[-1]) if passing and not quick else {}
    figures.update(steps=steps, capacity=passing[-1] if passing else 0)
    figures["peer"] = _peer(script, config.peer_sessions, config.measure_s)
    figures["ratios"] = _ratios(steps, figures["peer"])
    report.write(figures)
    print(f"capacity: {figures['capacity']} sessions; peer ratios: {figures['ratios'] or figures['peer']}")
    print(f"report: {Path('.bench/report.md')}")
    return {key: figures[key] for key in ("capacity", "ratios", "steps", "peer")}


def _machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in _cpuinfo() if line.startswith("model name")), "?")
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return f"{psutil.cpu_count()} cores ({model}), {psutil.virtual_memory().total / 2**30:.0f} GiB, load avg {load}"


def _cpuinfo() -> list[str]:
    path = Path("/proc/cpuinfo")
    return path.read_text().splitlines() if path.exists() else []
