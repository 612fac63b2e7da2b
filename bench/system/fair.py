"""Our stack against the Pipecat peer (bench/peer): same harness, same audio, same run, equal session counts.

At each count of the plan's equal counts, ours and the peer run one step each, back to back, with the same session
behaviour: every session speaks, waits for the answer and speaks over it (spoken barge-in, the peer's only mode).
CPU per session and spoken barge-in are compared at each count. Both sides' capacity is then found under one rule
that both can be held to (the peer sends no `speech_started` and takes no `barge_in` message): nothing lost or
failed, and spoken barge-in p99 at most ADDED_BUDGET_MS above that side's own p50 at the lowest count (the latency
the load adds).
"""

from typing import Any

from bench.system import capacity, peer
from bench.system.driver import Mode
from bench.system.ours import Target
from bench.system.script import Script

ADDED_BUDGET_MS = 50.0
# Our processes without the stand-ins for outside services (the local agent for Google's CX, the tools worker for
# a product API): the peer has neither, it answers with a tone.
OURS_CORE = ("gateway", "vad_worker", "dialog_worker", "nats-server")
SPOKEN_ONLY = (Mode.SPOKEN,)


def _core_per_session(step: dict[str, Any]) -> float:
    total: float = sum(step["processes"][name]["cpu_percent"] for name in OURS_CORE)
    sessions: int = step["sessions"]
    return round(total / sessions, 3)


def compare(
    target: Target, peer_target: peer.PeerTarget | None, script: Script, counts: tuple[int, ...], measure_s: float
) -> dict[str, Any]:
    """Ours and the peer at each count, interleaved; ratios per count (peer over ours: above 1, ours is cheaper)."""
    ours, theirs, ratios = [], [], []
    for sessions in counts:
        step = capacity.measure(target, script, sessions, measure_s, SPOKEN_ONLY)
        ours.append(step)
        spoken = step["latency_ms"]["spoken_barge_in"]
        print(
            f"ours {sessions:>4} sessions, spoken barge-ins only: CPU {step['cpu_percent_per_session']}% per session, "
            f"spoken barge-in p50 {spoken['p50_ms']} p99 {spoken['p99_ms']} ms, counts {step['counts']}",
            flush=True,
        )
        if peer_target is None:
            continue
        run = peer.measure(peer_target, script, sessions, measure_s)
        theirs.append(run)
        ratios.append(_ratio(step, run))
        print(ratio_row(ratios[-1]), flush=True)
    return {"ours": ours, "peer": theirs, "ratios": ratios}


def _ratio(ours: dict[str, Any], theirs: dict[str, Any]) -> dict[str, Any]:
    cpu_ours, cpu_core = ours["cpu_percent_per_session"], _core_per_session(ours)
    cpu_peer = theirs["cpu_percent_per_session"]
    spoken_ours = ours["latency_ms"]["spoken_barge_in"]["p50_ms"]
    spoken_peer = theirs["spoken_barge_in"]["p50_ms"]
    return {
        "sessions": ours["sessions"],
        "cpu_per_session_ours": cpu_ours,
        "cpu_per_session_ours_core": cpu_core,
        "cpu_per_session_peer": cpu_peer,
        "cpu_peer_over_ours": round(cpu_peer / cpu_ours, 2) if cpu_ours else None,
        "cpu_peer_over_ours_core": round(cpu_peer / cpu_core, 2) if cpu_core else None,
        "spoken_barge_in_p50_ours": spoken_ours,
        "spoken_barge_in_p50_peer": spoken_peer,
        "spoken_peer_over_ours": round(spoken_peer / spoken_ours, 2) if spoken_ours and spoken_peer else None,
        "peer_lost": _lost(theirs["counts"]),
        "ours_lost": _lost(ours["counts"]),
    }


def _lost(counts: dict[str, int]) -> int:
    """Events lost or failed in a step: a side that loses events is not keeping up, so its CPU per session is what
    a saturated process could give, not what its sessions need."""
    return sum(n for name, n in counts.items() if capacity.breaks_budget(name))


def ratio_row(ratio: dict[str, Any]) -> str:
    return (
        f"{ratio['sessions']:>4} sessions, peer / ours: CPU per session {ratio['cpu_per_session_peer']} / "
        f"{ratio['cpu_per_session_ours']}% = {ratio['cpu_peer_over_ours']}x (ours without agent and tools "
        f"{ratio['cpu_per_session_ours_core']}%: {ratio['cpu_peer_over_ours_core']}x); spoken barge-in p50 "
        f"{ratio['spoken_barge_in_p50_peer']} / {ratio['spoken_barge_in_p50_ours']} ms = "
        f"{ratio['spoken_peer_over_ours']}x"
        + "".join(
            f"; {side} lost {ratio[key]} events (not keeping up)"
            for side, key in (("the peer", "peer_lost"), ("ours", "ours_lost"))
            if ratio.get(key)
        )
    )


def spoken_failures(spoken: dict[str, Any], counts: dict[str, int], baseline_p50: float | None) -> list[str]:
    """Why a step breaks the shared rule (empty: it passes)."""
    broken = [name for name, n in counts.items() if n and capacity.breaks_budget(name)]
    found = [f"{name}: {counts[name]}" for name in broken]
    p99 = spoken["p99_ms"]
    if p99 is None or baseline_p50 is None:
        found.append("no spoken barge-in measured")
    elif p99 > baseline_p50 + ADDED_BUDGET_MS:
        found.append(f"spoken barge-in p99 {p99} ms > {baseline_p50} + {ADDED_BUDGET_MS:g} ms")
    return found


def peer_capacity(
    peer_target: peer.PeerTarget, script: Script, fair: dict[str, Any], more: tuple[int, ...], measure_s: float
) -> dict[str, Any]:
    """The peer's highest passing count: its equal-count steps, then `more` counts until one fails."""
    runs = list(fair["peer"])
    baseline = runs[0]["spoken_barge_in"]["p50_ms"] if runs else None
    for run in runs:
        run["failures"] = spoken_failures(run["spoken_barge_in"], run["counts"], baseline)
    while runs and not runs[-1]["failures"] and more:
        sessions, more = more[0], more[1:]
        run = peer.measure(peer_target, script, sessions, measure_s)
        run["failures"] = spoken_failures(run["spoken_barge_in"], run["counts"], baseline)
        runs.append(run)
        verdict = "; ".join(run["failures"]) or "pass"
        print(f"peer {sessions:>4} sessions: spoken barge-in {run['spoken_barge_in']['p99_ms']} ms p99 | {verdict}")
    return {"runs": runs, "capacity": highest_passing(runs), "baseline_p50_ms": baseline}


def ours_spoken_capacity(fair: dict[str, Any], steps: list[dict[str, Any]]) -> int:
    """Our highest passing count under the shared rule, over the capacity search's steps."""
    baseline = fair["ours"][0]["latency_ms"]["spoken_barge_in"]["p50_ms"] if fair["ours"] else None
    judged = [
        {**step, "failures": spoken_failures(step["latency_ms"]["spoken_barge_in"], step["counts"], baseline)}
        for step in steps
    ]
    return highest_passing(judged)


def highest_passing(runs: list[dict[str, Any]]) -> int:
    """Counts that passed, up to the first failure (a later pass after a failure does not count)."""
    passing = 0
    for run in runs:
        if run["failures"]:
            break
        passing = run["sessions"]
    return passing
