"""The PrometheusRule's groups pass `promtool check rules`, and promtool is a real check (a broken rule fails)."""

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
