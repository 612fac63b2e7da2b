"""docs/metrics.md lists every Prometheus metric the code defines (one meaning per name)."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("shared", "gateway", "vad_worker", "dialog_worker", "tools_worker", "local_agent")
DEFINITION = re.compile(r"\b(?:Counter|Gauge|Histogram|Summary)\(\s*\"(voicechat_\w+)\"")


def defined_metrics() -> set[str]:
    names: set[str] = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            names.update(DEFINITION.findall(path.read_text()))
    return names


def test_every_metric_is_documented() -> None:
    documented = set(re.findall(r"^\| `(voicechat_\w+)`", (ROOT / "docs" / "metrics.md").read_text(), re.M))
    names = defined_metrics()
    assert "voicechat_turns_total" in names
    assert sorted(names - documented) == []
    assert sorted(documented - names) == []
