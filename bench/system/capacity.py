"""Capacity search on our stack: raise concurrent sessions step by step until the latency budget or an error breaks.

Budget (p99): frame-to-`speech_started` 50 ms and `barge_in`-to-`interrupted` 50 ms; and nothing lost, out of
order or failed. Turn overhead = end-of-speech frame to first `audio_response`, minus the agent's own processing
per turn (from the dialog worker's `voicechat_agent_processing_seconds`: two agent responses per scripted turn,
the tool call and the answer, so 2 x the mean over the window).
"""

from typing import Any

from bench.system.driver import Mode
from bench.system.ours import Target
from bench.system.script import Script
from bench.system.step import ROTATION, StepConfig, StepResult, run_step

BUDGET_P99_MS = {"frame_to_speech_started": 50.0, "barge_in": 50.0}
ERRORS = ("connect_failed", "send_failed", "closed_by_server", "window_started_late")
RESPONSES_PER_TURN = 2
SERVICES = ("gateway", "vad_worker", "dialog_worker", "local_agent", "tools_worker", "nats-server")


def agent_ms_per_turn(probe: dict[str, float]) -> float:
    count = probe.get("voicechat_agent_processing_seconds_count", 0.0)
    total = probe.get("voicechat_agent_processing_seconds_sum", 0.0)
    return 1000 * total / count * RESPONSES_PER_TURN if count else 0.0


def summarize(step: StepResult) -> dict[str, Any]:
    agent_ms = agent_ms_per_turn(step.probe)
    latencies = {name: step.histograms.summary(name) for name in ("frame_to_speech_started", "barge_in")}
    latencies["spoken_barge_in"] = step.histograms.summary("spoken_barge_in")
    latencies["turn_overhead"] = step.histograms.summary("turn_overhead_raw", shift_ms=agent_ms)
    latencies["loadgen_lag"] = step.histograms.summary("loadgen_lag")
    cpu_total = sum(step.processes[name]["cpu_percent"] for name in SERVICES)
    counts = dict(sorted(step.counts.items()))
    return {
        "sessions": step.sessions,
        "window_s": round(step.window_s, 1),
        "latency_ms": latencies,
        "agent_ms_per_turn": round(agent_ms, 3),
        "counts": counts,
        "processes": step.processes,
        "cpu_percent_services_total": round(cpu_total, 1),
        "cpu_percent_per_session": round(cpu_total / step.sessions, 3),
        "cpu_percent_other_processes": round(
            step.machine_busy_percent - cpu_total - step.processes["loadgen"]["cpu_percent"], 1
        ),
        "failures": failures(latencies, counts),
    }


def failures(latencies: dict[str, dict[str, Any]], counts: dict[str, int]) -> list[str]:
    found = []
    for name, budget in BUDGET_P99_MS.items():
        p99 = latencies[name]["p99_ms"]
        if p99 is None or p99 > budget:
            found.append(f"{name} p99 {p99} ms > {budget:g} ms")
    found += [f"{name}: {count}" for name, count in counts.items() if count and breaks_budget(name)]
    return found


def breaks_budget(count_name: str) -> bool:
    """Whether any occurrence of this count fails a step: errors, losses, protocol disorder."""
    failing = count_name in ERRORS or count_name == "order_violations"
    return failing or count_name.startswith(("lost", "error_events"))


ALWAYS_UP_TO = 100  # the targets are stated at 50 and 100 sessions: those steps run even after a failure


def measure(
    target: Target, script: Script, sessions: int, measure_s: float, rotation: tuple[Mode, ...] = ROTATION
) -> dict[str, Any]:
    """One step on our stack, summarised."""
    config = StepConfig(target.url, sessions, measure_s, rotation=rotation)
    return summarize(run_step(config, script, target.watch, target.agent_time))


def search(target: Target, script: Script, steps: tuple[int, ...], measure_s: float) -> list[dict[str, Any]]:
    """Run each step in order; stop after the first one that fails (once past ALWAYS_UP_TO sessions)."""
    results = []
    for sessions in steps:
        summary = measure(target, script, sessions, measure_s)
        results.append(summary)
        print(row(summary), flush=True)
        if summary["failures"] and sessions >= ALWAYS_UP_TO:
            break
    return results


def row(summary: dict[str, Any]) -> str:
    lat = summary["latency_ms"]
    verdict = "PASS" if not summary["failures"] else "FAIL: " + "; ".join(summary["failures"])
    return (
        f"{summary['sessions']:>4} sessions | frame->speech_started p50 {lat['frame_to_speech_started']['p50_ms']} "
        f"p99 {lat['frame_to_speech_started']['p99_ms']} ms | barge_in p99 {lat['barge_in']['p99_ms']} ms | "
        f"spoken p50 {lat['spoken_barge_in']['p50_ms']} ms | turn overhead p99 {lat['turn_overhead']['p99_ms']} ms | "
        f"CPU {summary['cpu_percent_services_total']}% ({summary['cpu_percent_per_session']}%/session), "
        f"load gen {summary['processes']['loadgen']['cpu_percent']}%, others {summary['cpu_percent_other_processes']}% "
        f"| {verdict}"
    )
