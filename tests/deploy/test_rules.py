"""The PrometheusRule's groups pass `promtool check rules`, and promtool is a real check (a broken rule fails);
the ownership and outage alerts (issue 12) fire on the series they are meant for and only then (`promtool test
rules` on synthetic series)."""

import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.tools import binary, rules_spec


def check(spec: dict[str, Any], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(spec))
    return subprocess.run([binary("promtool"), "check", "rules", str(path)], capture_output=True, text=True)


def test_rules_pass_promtool(tmp_path: Path) -> None:
    result = check(rules_spec(), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_rejects_a_broken_expression(tmp_path: Path) -> None:
    spec = rules_spec()
    spec["groups"][0]["rules"][0]["expr"] = "sum by (le (rate(voicechat_turns_total[5m]))"
    assert check(spec, tmp_path).returncode != 0


def test_required_alerts_exist() -> None:
    alerts = {rule["alert"]: rule["expr"] for group in rules_spec()["groups"] for rule in group["rules"]}
    assert "voicechat_errors_total" in alerts["VoicechatHighErrorRate"]
    assert "voicechat_turn_latency_seconds_bucket" in alerts["VoicechatTurnLatencyP99High"]
    assert "voicechat_barge_in_latency_seconds_bucket" in alerts["VoicechatBargeInLatencyP99High"]
    assert "voicechat_tool_call_seconds_bucket" in alerts["VoicechatToolCallP99High"]
    assert all(kind in alerts["VoicechatNoWorkers"] for kind in ("vad-worker", "dialog-worker", "tools-worker"))
    assert "nats_varz_slow_consumers" in alerts["NatsSlowConsumers"]


def series(name: str, labels: dict[str, str], values: str) -> dict[str, str]:
    inner = ", ".join(f'{key}="{value}"' for key, value in labels.items())
    return {"series": f"{name}{{{inner}}}", "values": values}


def alert(name: str, summary: str | None, labels: dict[str, str] | None = None, severity: str = "page") -> Any:
    """One alert case at 15 minutes: the alert expected with `summary` and `labels`, or none when `summary` is None."""
    expected = {"exp_labels": {"severity": severity, **(labels or {})}, "exp_annotations": {"summary": summary}}
    return {"eval_time": "15m", "alertname": name, "exp_alerts": [expected] if summary is not None else []}


DIALOG_GONE = "no live dialog worker in the liveness bucket: new sessions cannot start"
STORE_DOWN = "session record writes fail: JetStream (KV bucket voicechat_sessions) unavailable"
OUTAGE_CASES: list[dict[str, Any]] = [
    {
        "input_series": [
            series("voicechat_publishes_dropped_total", {"pod": "gw-0", "kind": "audio"}, "0+50x20"),
            series("voicechat_publishes_dropped_total", {"pod": "gw-1", "kind": "audio"}, "7x20"),
            series("voicechat_ownership_writes_total", {"pod": "gw-1", "outcome": "ok"}, "0+10x20"),
            series("voicechat_liveness_workers", {"pod": "gw-0", "kind": "vad", "state": "alive"}, "2x20"),
            series("voicechat_liveness_workers", {"pod": "gw-0", "kind": "dialog", "state": "alive"}, "0x20"),
            series("voicechat_liveness_workers", {"pod": "gw-0", "kind": "dialog", "state": "draining"}, "1x20"),
            series("voicechat_loop_errors_total", {"pod": "vad-0", "loop": "liveness_beacon"}, "0+3x20"),
            series("voicechat_loop_errors_total", {"pod": "gw-0", "loop": "ownership_tick"}, "4x20"),
        ],
        "alert_rule_test": [
            alert(
                "VoicechatGatewayDroppingMessages",
                "gateway gw-0 drops session messages: NATS unreachable or stalled",
                {"pod": "gw-0"},
            ),
            alert("VoicechatSessionStoreFailing", None),
            alert("VoicechatNoLiveWorkers", DIALOG_GONE, {"kind": "dialog"}),
            alert(
                "VoicechatLoopErrors",
                "loop liveness_beacon has been failing for 10 minutes",
                {"loop": "liveness_beacon"},
                "warning",
            ),
        ],
    },
    {
        "input_series": [series("voicechat_ownership_writes_total", {"pod": "gw-0", "outcome": "error"}, "0+2x20")],
        "alert_rule_test": [alert("VoicechatSessionStoreFailing", STORE_DOWN)],
    },
]


def test_ownership_and_outage_alerts_fire_on_their_series_only(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rules_spec()))
    cases = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [{"interval": "1m", **case} for case in OUTAGE_CASES],
    }
    (tmp_path / "cases.yaml").write_text(yaml.safe_dump(cases))
    result = subprocess.run(
        [binary("promtool"), "test", "rules", "cases.yaml"], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
