"""The README's benchmark section, generated from one `make bench` run (`.bench/results.json`), so the figures
in README.md always come from a single run on a named machine. `make bench` writes it to
`.bench/README-benchmarks.md`; `python -m bench.readme` regenerates it from the saved results. Paste it over the
section "Benchmarks (latest figures)" of README.md after a run on a quiet machine (nothing else running).
"""

import json
from pathlib import Path
from typing import Any

from bench.system import capacity, fair

RESULTS = Path(".bench/results.json")
OUTPUT = Path(".bench/README-benchmarks.md")
TARGETS = {
    "sessions": "350 (p99 frame → event and barge-in < 50 ms)",
    "cpu": "≤ 0.35 %",
    "turn_overhead": "p99 < 30 ms at 200 sessions",
    "peer": "≥ 8 x",
}


def _step_row(step: dict[str, Any], target: str) -> str:
    """One capacity step as three cells (no `|` inside a cell): what was measured, and the verdict."""
    lat = step["latency_ms"]
    troubles = {name: n for name, n in step["counts"].items() if n and capacity.breaks_budget(name)}
    measured = (
        f"frame → `speech_started` p50 {lat['frame_to_speech_started']['p50_ms']} ms, p99 "
        f"{lat['frame_to_speech_started']['p99_ms']} ms; barge-in p99 {lat['barge_in']['p99_ms']} ms; spoken barge-in "
        f"p50 {lat['spoken_barge_in']['p50_ms']} ms; turn overhead p99 {lat['turn_overhead']['p99_ms']} ms; all "
        f"services {step['cpu_percent_per_session']} % of a core per session; "
        + (f"lost or failed: {troubles}" if troubles else "nothing lost or out of order")
    )
    verdict = "**pass**" if not step["failures"] else "fail: " + "; ".join(step["failures"])
    return f"| system, {step['sessions']} sessions | {measured} | {'; '.join(filter(None, (target, verdict)))} |"


def _system_rows(system: dict[str, Any]) -> list[str]:
    steps = system.get("steps", [])
    shown = [s for s in steps if s["sessions"] in (50, 200)]
    last_pass = next((s for s in steps if s["sessions"] == system.get("capacity")), None)
    first_fail = next((s for s in steps if s["failures"]), None)
    for extra in (last_pass, first_fail):
        if extra is not None and extra not in shown:
            shown.append(extra)
    rows = [_step_row(s, TARGETS["turn_overhead"] if s["sessions"] == 200 else "") for s in shown]
    rows.append(f"| highest passing session count | {system.get('capacity')} | {TARGETS['sessions']} |")
    comparison = system.get("fair", {})
    rows += [_peer_row(r) for r in comparison.get("ratios", [])]
    if "peer_capacity" in comparison:
        rows.append(
            f"| capacity, rule both can meet (nothing lost, spoken barge-in p99 ≤ own p50 + "
            f"{fair.ADDED_BUDGET_MS:g} ms) | Pipecat {comparison['peer_capacity']['capacity']}, ours "
            f"{comparison.get('ours_spoken_capacity')} sessions | — |"
        )
    if system.get("errors", {}).get("peer"):
        rows.append(f"| Pipecat peer | not measured: {system['errors']['peer'][:200]} | — |")
    return rows


def _peer_row(ratio: dict[str, Any]) -> str:
    return f"| Pipecat peer, same run | {fair.ratio_row(ratio).strip()} | {TARGETS['peer']} |"


def _other_rows(results: dict[str, Any]) -> list[str]:
    rows = []
    vad = results.get("vad")
    if vad:
        engines = ", ".join(f"{engine} {count:,}" for engine, count in vad["detector_frames_per_cpu_s"].items())
        rows.append(f"| VAD detector, one stream | 20 ms frames per CPU second: {engines} | — |")
        rows.extend(
            f"| VAD worker, {rt['engine']}, {rt['sessions']} real-time sessions | frame → `speech_started` p50 "
            f"{rt['frame_to_speech_started_ms_p50']} ms, p99 {rt['frame_to_speech_started_ms_p99']} ms, "
            f"{rt['vad_worker_cpu_percent_per_session']} % of a core per session | — |"
            for rt in vad["realtime"]
        )
    tools = results.get("tools_search")
    if tools:
        for name, label in (("default", "default catalog"), ("synthetic_100k", "100,000-product catalog")):
            rows.append(
                f"| tools: 100 searches in flight, one worker, {label} | {tools[f'{name}_searches_per_s']:,.0f} "
                f"searches/s, p99 {tools[f'{name}_p99_ms']:.0f} ms | — |"
            )
    phone = results.get("phone")
    if phone:
        cpu, barge, heard = phone["cpu"], phone["barge_in"], phone["accuracy"]
        rows.append(
            f"| phone calls, {cpu['phone']['sessions']} calls against {cpu['app']['sessions']} app sessions | CPU per "
            f"session {cpu['phone']['cpu_percent_per_session']} / {cpu['app']['cpu_percent_per_session']} % = "
            f"{cpu['phone_over_app']}x an app session's; `clear` p50 {barge['phone_clear_ms']['p50']} ms after the "
            f"caller's first speech frame (app `paused` p50 {barge['app_paused_ms']['p50']} ms); spoken requests "
            f"understood at 8 kHz {heard['phone_8k_understood']} (app at 16 kHz {heard['app_16k_understood']}) | "
            f"1.3x; 150 ms |"
        )
    asr = results.get("asr_rtf")
    if asr:
        rows.append(
            f"| local agent ASR | real-time factor {asr['asr_rtf']:.2f}, {asr['turn_processing_ms_median']:.0f} ms "
            f"per turn (median) | — |"
        )
    return rows


def _limits(system: dict[str, Any]) -> list[str]:
    profile = system.get("profile") or {}
    if not profile:
        return [
            'What limits it: run `make bench BENCH_ARGS="--full system"` for py-spy profiles (quick mode has none).'
        ]
    lines = ["What limits it (py-spy, top self time at the highest passing count):", ""]
    for service, spots in profile.items():
        top = ", ".join(f"`{s['frame']}` {s['percent']} %" for s in spots["top_self"][:4])
        lines.append(f"- {service}: {top}")
    return lines


def section(results: dict[str, Any]) -> str:
    system = results.get("system", {})
    machine = results.get("machine", {})
    lines = [
        "## Benchmarks (latest figures)",
        "",
        f"`make bench` (method in [docs/benchmarks.md](docs/benchmarks.md)), one run started {results.get('started')}. "
        f"Machine: {system.get('machine', '?')} (at the end: {system.get('machine_after', '?')}), Python "
        f"{machine.get('python', '?')}; all services, NATS and the load generator share the cores.",
        "",
        "| what | measured | target |",
        "|---|---|---|",
        *_other_rows(results),
        *_system_rows(system),
        "",
        *_limits(system),
        "",
    ]
    return "\n".join(lines)


def write(results: dict[str, Any]) -> Path:
    OUTPUT.parent.mkdir(exist_ok=True)
    OUTPUT.write_text(section(results))
    return OUTPUT


if __name__ == "__main__":
    print(section(json.loads(RESULTS.read_text())))
