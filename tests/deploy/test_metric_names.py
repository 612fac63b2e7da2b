"""The PromQL metric-name extractor that the exported-metrics check relies on."""

from tests.deploy.tools import metric_names


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
