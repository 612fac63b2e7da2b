"""The PromQL metric-name extractor that the exported-metrics check relies on."""

import re

from tests.deploy.tools import ROOT, metric_names


def test_extracts_selected_metrics_only() -> None:
    expr = (
        'sum by (service) (rate(voicechat_errors_total{code=~"internal|x"}[5m])) / ignoring (service) group_left '
        'sum(rate(voicechat_turns_total[5m])) > 0.05 or absent(up{job="vad-worker"})'
    )
    assert metric_names(expr) == {"voicechat_errors_total", "voicechat_turns_total", "up"}


def test_histogram_quantile_keeps_bucket_series() -> None:
    expr = (
        "histogram_quantile(0.99, sum by (le, tool) "
        '(rate(voicechat_tool_call_seconds_bucket{a="$b"}[$__rate_interval])))'
    )
    assert metric_names(expr) == {"voicechat_tool_call_seconds_bucket"}


def test_every_metric_is_documented() -> None:
    """Each `voicechat_` metric a service defines has its row in docs/deploy.md (what it means, who exports it)."""
    packages = [path for path in ROOT.iterdir() if (path / "__init__.py").exists() and path.name != "tests"]
    defined = {
        name
        for package in packages
        for path in package.rglob("*.py")
        for name in re.findall(r'(?:Counter|Gauge|Histogram)\(\s*"(voicechat_\w+)"', path.read_text())
    }
    documented = set(re.findall(r"^\| `(voicechat_\w+)", (ROOT / "docs" / "deploy.md").read_text(), re.M))
    assert defined, "no metric definitions found"
    assert defined == documented
