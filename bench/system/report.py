"""System benchmark output: .bench/system.json, .bench/report.md and PNG plots (matplotlib, Agg backend)."""

import json
from pathlib import Path
from typing import Any

import matplotlib

from bench.system.fair import ADDED_BUDGET_MS

matplotlib.use("Agg")
import matplotlib.pyplot as plt

OUT = Path(".bench")
LATENCIES = ("frame_to_speech_started", "barge_in", "spoken_barge_in", "turn_overhead")


def plot_latency(steps: list[dict[str, Any]], path: Path) -> None:
    sessions = [s["sessions"] for s in steps]
    fig, ax = plt.subplots(figsize=(8, 5))
    for name in LATENCIES:
        for key, style in (("p50_ms", "--"), ("p99_ms", "-")):
            values = [s["latency_ms"][name][key] for s in steps]
            ax.plot(sessions, values, style, marker="o", label=f"{name} {key[:3]}")
    ax.axhline(50, color="red", linewidth=0.8, label="budget p99 50 ms")
    ax.set(xlabel="concurrent real-time sessions", ylabel="ms", title="Latency percentiles against sessions")
    ax.set_yscale("log")
    ax.legend(fontsize=7)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def plot_cpu(steps: list[dict[str, Any]], path: Path) -> None:
    sessions = [s["sessions"] for s in steps]
    fig, ax = plt.subplots(figsize=(8, 5))
    for name in steps[0]["processes"]:
        ax.plot(sessions, [s["processes"][name]["cpu_percent"] for s in steps], marker="o", label=name)
    ax.plot(sessions, [s["cpu_percent_services_total"] for s in steps], "k--", marker="o", label="all services + NATS")
    ax.set(xlabel="concurrent real-time sessions", ylabel="% of one core", title="CPU per process against sessions")
    ax.legend(fontsize=7)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def _lat(summary: dict[str, Any]) -> str:
    return f"{summary['p50_ms']} / {summary['p99_ms']} ({summary['count']})"


def markdown(figures: dict[str, Any]) -> str:
    lines = [
        "# System benchmark",
        "",
        f"Machine: {figures['machine']}. Mode: {figures['mode']}. Utterance: {figures['script']}.",
        "",
        "Latency p50 / p99 in ms (samples). Turn overhead excludes the agent's own processing "
        "(mean per turn from `voicechat_agent_processing_seconds`).",
        "",
        "| sessions | frame→speech_started | barge_in→interrupted | spoken barge-in | turn overhead "
        "| CPU all services (% core) | per session | load gen CPU | other processes CPU | verdict |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in figures["steps"]:
        lat = s["latency_ms"]
        verdict = "pass" if not s["failures"] else "FAIL: " + "; ".join(s["failures"])
        lines.append(
            f"| {s['sessions']} | {_lat(lat['frame_to_speech_started'])} | {_lat(lat['barge_in'])} "
            f"| {_lat(lat['spoken_barge_in'])} | {_lat(lat['turn_overhead'])} | {s['cpu_percent_services_total']} "
            f"| {s['cpu_percent_per_session']} | {s['processes']['loadgen']['cpu_percent']} "
            f"| {s['cpu_percent_other_processes']} | {verdict} |"
        )
    lines += ["", f"Highest passing count: **{figures['capacity']}** sessions.", ""]
    lines += [
        "## CPU (% of one core) and RSS (MiB) per process",
        "",
        "| sessions | " + " | ".join(figures["steps"][0]["processes"]) + " |",
        "|---" * (1 + len(figures["steps"][0]["processes"])) + "|",
    ]
    for s in figures["steps"]:
        cells = [f"{p['cpu_percent']}% / {p['rss_mib']}" for p in s["processes"].values()]
        lines.append(f"| {s['sessions']} | " + " | ".join(cells) + " |")
    lines += fair_markdown(figures)
    if figures.get("profile"):
        lines += ["## Profile (py-spy, top self time)", "", "```", json.dumps(figures["profile"], indent=1), "```"]
    lines += ["", "![latency](system-latency.png)", "", "![cpu](system-cpu.png)", ""]
    return "\n".join(lines)


def fair_markdown(figures: dict[str, Any]) -> list[str]:
    """Ours against the Pipecat peer at equal counts, and both capacities under the shared rule (fair.py)."""
    fair = figures["fair"]
    lines = ["## Ours against the Pipecat peer (same run, same harness and audio, spoken barge-ins only)", ""]
    if "peer" in figures["errors"]:
        return [*lines, f"Peer not measured: {figures['errors']['peer']}", ""]
    lines += [
        "| sessions | CPU % of a core per session: peer | ours (all) | ours without agent + tools | peer / ours "
        "| spoken barge-in p50 ms: peer | ours | peer / ours |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in fair["ratios"]:
        lines.append(
            f"| {r['sessions']} | {r['cpu_per_session_peer']} | {r['cpu_per_session_ours']} "
            f"| {r['cpu_per_session_ours_core']} | {r['cpu_peer_over_ours']} x ({r['cpu_peer_over_ours_core']} x) "
            f"| {r['spoken_barge_in_p50_peer']} | {r['spoken_barge_in_p50_ours']} | {r['spoken_peer_over_ours']} x |"
        )
    peer_capacity = fair.get("peer_capacity", {})
    lines += [
        "",
        f"Capacity under the shared rule (nothing lost or failed; spoken barge-in p99 at most "
        f"{ADDED_BUDGET_MS:g} ms above the side's own p50 at the lowest count): "
        f"peer **{peer_capacity.get('capacity')}**, ours **{fair['ours_spoken_capacity']}** sessions.",
        "",
        "| peer sessions | spoken barge-in p50 / p99 (samples) | CPU % of a core | load gen lag p99 ms | verdict |",
        "|---|---|---|---|---|",
    ]
    for run in peer_capacity.get("runs", []):
        verdict = "; ".join(run["failures"]) or "pass"
        lines.append(
            f"| {run['sessions']} | {_lat(run['spoken_barge_in'])} | {run['processes']['pipecat']['cpu_percent']} "
            f"| {run['loadgen_lag']['p99_ms']} | {verdict} |"
        )
    return [*lines, ""]


def write(figures: dict[str, Any]) -> None:
    OUT.mkdir(exist_ok=True)
    (OUT / "system.json").write_text(json.dumps(figures, indent=2))
    if figures["steps"]:
        plot_latency(figures["steps"], OUT / "system-latency.png")
        plot_cpu(figures["steps"], OUT / "system-cpu.png")
    (OUT / "report.md").write_text(markdown(figures))
