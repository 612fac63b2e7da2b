"""The peer comparison's rules (bench/system/fair.py) and the README section generated from a run (bench/readme.py)."""

from typing import Any

from bench import readme
from bench.system import fair


def _spoken(p50: float | None, p99: float | None) -> dict[str, Any]:
    return {"p50_ms": p50, "p99_ms": p99, "count": 10}


def _step(sessions: int, cpu_per_session: float, spoken_p50: float, spoken_p99: float, **counts: int) -> dict[str, Any]:
    processes = {name: {"cpu_percent": cpu_per_session * sessions / 4, "rss_mib": 50.0} for name in fair.OURS_CORE}
    processes |= {"local_agent": {"cpu_percent": 1.0, "rss_mib": 50.0}, "loadgen": {"cpu_percent": 9.0, "rss_mib": 1}}
    latency = {name: _spoken(3.0, 20.0) for name in ("frame_to_speech_started", "barge_in", "turn_overhead")}
    return {
        "sessions": sessions,
        "latency_ms": {**latency, "spoken_barge_in": _spoken(spoken_p50, spoken_p99)},
        "counts": counts,
        "processes": processes,
        "cpu_percent_services_total": cpu_per_session * sessions,
        "cpu_percent_per_session": cpu_per_session,
        "cpu_percent_other_processes": 1.0,
        "failures": [],
    }


def test_the_shared_rule_allows_50_ms_over_the_lowest_counts_p50_and_nothing_lost() -> None:
    assert fair.spoken_failures(_spoken(120, 169), {"lost_interrupted": 0}, baseline_p50=120.0) == []
    assert fair.spoken_failures(_spoken(120, 171), {}, baseline_p50=120.0) == [
        "spoken barge-in p99 171 ms > 120.0 + 50 ms"
    ]
    assert fair.spoken_failures(_spoken(120, 130), {"lost_interrupted": 2, "vad_drift": 3}, 120.0) == [
        "lost_interrupted: 2"
    ]
    assert fair.spoken_failures(_spoken(None, None), {}, 120.0) == ["no spoken barge-in measured"]


def test_capacity_is_the_last_pass_before_the_first_failure() -> None:
    runs = [{"sessions": n, "failures": f} for n, f in ((10, []), (20, []), (50, ["x"]), (75, []))]
    assert fair.highest_passing(runs) == 20
    assert fair.highest_passing([{"sessions": 10, "failures": ["x"]}]) == 0


def test_ratios_at_equal_counts_and_the_readme_section() -> None:
    ours = [_step(n, 0.5, 110.0, 150.0) for n in (10, 20)]
    peer = [
        {"sessions": n, "cpu_percent_per_session": 4.0, "spoken_barge_in": _spoken(330.0, 400.0), "counts": {}}
        for n in (10, 20)
    ]
    ratios = [fair._ratio(o, p) for o, p in zip(ours, peer, strict=True)]
    assert ratios[0]["cpu_peer_over_ours"] == 8.0  # 4.0 % against 0.5 % of a core per session
    assert ratios[0]["cpu_per_session_ours_core"] == 0.5  # the core processes carry all of it here
    assert ratios[0]["spoken_peer_over_ours"] == 3.0
    assert "lost" not in fair.ratio_row(ratios[0])
    peer[1]["counts"] = {"lost_interrupted": 25, "vad_drift": 4}
    assert fair.ratio_row(fair._ratio(ours[1], peer[1])).endswith("; the peer lost 25 events (not keeping up)")
    steps = [_step(50, 0.5, 110.0, 150.0), _step(200, 0.4, 110.0, 150.0), _step(225, 0.4, 110.0, 400.0)]
    steps[-1]["failures"] = ["frame_to_speech_started p99 80 ms > 50 ms"]
    comparison = {"ours": ours, "peer": peer, "ratios": ratios, "ours_spoken_capacity": 200}
    system = {"steps": steps, "capacity": 200, "fair": comparison, "errors": {}, "machine": "2 cores (test)"}
    text = readme.section({"machine": {"python": "3.11"}, "started": "2026-11-28T04:00:00Z", "system": system})
    assert text.startswith("## Benchmarks (latest figures)")
    assert "2 cores (test)" in text and "2026-11-28T04:00:00Z" in text
    for sessions in ("50", "200", "225"):
        assert f"| system, {sessions} sessions |" in text
    assert "| highest passing session count | 200 |" in text
    assert text.count("| Pipecat peer, same run |") == 2 and "= 8.0x" in text
    assert "fail: frame_to_speech_started p99 80 ms > 50 ms" in text
    assert "| system, 200 sessions | frame → `speech_started` p50 3.0 ms, p99 20.0 ms;" in text
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert rows and all(line.count("|") == 4 for line in rows), rows  # three cells, none holding a `|`


def test_the_readme_section_has_the_phone_row() -> None:
    cpu = {
        "phone": {"sessions": 10, "cpu_percent_per_session": 3.87},
        "app": {"sessions": 10, "cpu_percent_per_session": 3.22},
        "phone_over_app": 1.2,
    }
    barge = {"trials": 5, "phone_clear_ms": {"p50": 129.8}, "app_paused_ms": {"p50": 88.0}}
    accuracy = {"phone_8k_understood": "3/6", "app_16k_understood": "4/6"}
    phone = {"cpu": cpu, "barge_in": barge, "accuracy": accuracy}
    text = readme.section({"machine": {}, "started": "2026-11-28T19:00:00Z", "phone": phone, "system": {}})
    assert (
        "| phone calls, 10 calls against 10 app sessions | CPU per session 3.87 / 3.22 % = 1.2x an app session's; "
        "`clear` p50 129.8 ms after the caller's first speech frame (app `paused` p50 88.0 ms); spoken requests "
        "understood at 8 kHz 3/6 (app at 16 kHz 4/6) | 1.3x; 150 ms |"
    ) in text


def test_the_readme_section_reads_the_vad_figures_as_the_vad_bench_saves_them() -> None:
    realtime = {
        "engine": "webrtc",
        "sessions": 100,
        "frame_to_speech_started_ms_p50": 64.76,
        "frame_to_speech_started_ms_p99": 136.63,
        "vad_worker_cpu_percent_per_session": 0.334,
    }
    vad = {"detector_frames_per_cpu_s": {"webrtc": 114582, "silero": 3865}, "realtime": [realtime]}
    text = readme.section({"machine": {}, "started": "2026-11-28T08:30:00Z", "vad": vad, "system": {}})
    assert "webrtc 114,582, silero 3,865" in text
    assert "| VAD worker, webrtc, 100 real-time sessions | frame → `speech_started` p50 64.76 ms, p99 136.63 ms" in text
