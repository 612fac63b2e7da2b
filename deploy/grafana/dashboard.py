"""Generate the voicechat Grafana dashboard (grafana-foundation-sdk) and write it to deploy/grafana/voicechat.json.

Run `python -m deploy.grafana.dashboard` after changing this file; tests/deploy checks that the committed JSON is
what this code produces and that every metric it queries is exported by a running service.
"""

import json
import string
from collections.abc import Sequence
from pathlib import Path

from grafana_foundation_sdk.builders import common, dashboard, prometheus, stat, timeseries
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as common_model
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models.dashboard import DataSourceRef, VariableRefresh

OUTPUT = Path(__file__).with_name("voicechat.json")
DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
# Every query is scoped to the namespace picked in the dashboard (dev or prod).
NS = 'namespace="$namespace"'
SERVICES = "gateway|vad-worker|dialog-worker|tools-worker|local-agent"


def query(expr: str, legend: str) -> prometheus.Dataquery:
    return prometheus.Dataquery().expr(expr).legend_format(legend)


def quantiles(metric: str, by: str = "") -> list[prometheus.Dataquery]:
    """p50 / p90 / p99 of a histogram over 5 minutes, optionally split by a label."""
    group = f"le, {by}" if by else "le"
    prefix = f"{{{{{by}}}}} " if by else ""
    return [
        query(
            f"histogram_quantile({q}, sum by ({group}) (rate({metric}_bucket{{{NS}}}[$__rate_interval])))",
            f"{prefix}p{round(q * 100)}",
        )
        for q in (0.5, 0.9, 0.99)
    ]


def graph(title: str, unit: str, targets: list[prometheus.Dataquery], width: int = 8) -> timeseries.Panel:
    panel = timeseries.Panel().title(title).unit(unit).min(0).datasource(DATASOURCE).span(width).height(8)
    for ref, target in zip(string.ascii_uppercase, targets, strict=False):
        panel = panel.with_target(target.ref_id(ref))
    return panel


def total(title: str, metric: str, per_second: bool = True) -> stat.Panel:
    """A single-number panel: the namespace-wide sum of a gauge, or of a counter's rate."""
    expr = f"sum(rate({metric}{{{NS}}}[$__rate_interval]))" if per_second else f"sum({metric}{{{NS}}})"
    target = query(expr, title).ref_id("A")
    return (
        stat.Panel()
        .title(title)
        .unit("reqps" if per_second else "short")
        .datasource(DATASOURCE)
        .span(6)
        .height(4)
        .with_target(target)
    )


def rate(metric: str, by: str) -> prometheus.Dataquery:
    legend = " ".join(f"{{{{{label.strip()}}}}}" for label in by.split(","))
    return query(f"sum by ({by}) (rate({metric}{{{NS}}}[$__rate_interval]))", legend)


def variables() -> list[dashboard.DatasourceVariable | dashboard.QueryVariable]:
    source = dashboard.DatasourceVariable("datasource").label("Data source").type("prometheus")
    namespace = (
        dashboard.QueryVariable("namespace")
        .label("Namespace")
        .datasource(DATASOURCE)
        .query("label_values(voicechat_sessions_active, namespace)")
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
    )
    return [source, namespace]


def overview() -> list[Builder[model.Panel]]:
    return [
        total("Open sessions", "voicechat_sessions_active", per_second=False),
        total("Turns / s", "voicechat_turns_total"),
        total("Errors / s", "voicechat_errors_total"),
        total("Barge-ins / s", "voicechat_barge_in_latency_seconds_count"),
        graph("Sessions per gateway", "short", [query(f"voicechat_sessions_active{{{NS}}}", "{{pod}}")]),
        graph(
            "Sessions owned by workers",
            "short",
            [query(f"sum by (kind) (voicechat_worker_sessions{{{NS}}})", "{{kind}}")],
        ),
        graph("Claims / s", "reqps", [rate("voicechat_claims_total", "kind, outcome")]),
    ]


def turns() -> list[Builder[model.Panel]]:
    return [
        graph("Turns / s by outcome", "reqps", [rate("voicechat_turns_total", "outcome")]),
        graph("Turn latency (end of speech to first audio)", "s", quantiles("voicechat_turn_latency_seconds")),
        graph("Barge-in latency", "s", quantiles("voicechat_barge_in_latency_seconds")),
        graph("Dialogflow requests / s by code", "reqps", [rate("voicechat_dialogflow_requests_total", "code")]),
        graph(
            "Answers paused / resumed per s",
            "reqps",
            [
                query(f"sum(rate(voicechat_answer_pauses_total{{{NS}}}[$__rate_interval]))", "paused"),
                query(f"sum(rate(voicechat_answer_resumes_total{{{NS}}}[$__rate_interval]))", "resumed"),
            ],
        ),
        graph("Turn inputs rejected / s", "reqps", [rate("voicechat_turn_inputs_rejected_total", "phase, input")]),
        graph("Tool calls / s (dialog worker)", "reqps", [rate("voicechat_tool_calls_total", "tool, outcome")]),
        graph("Tool call round trip (dialog worker)", "s", quantiles("voicechat_tool_call_seconds", by="tool")),
        graph("Tool requests / s (tools worker)", "reqps", [rate("voicechat_tool_requests_total", "tool, outcome")]),
        graph("Tool handling time (tools worker)", "s", quantiles("voicechat_tool_latency_seconds", by="tool")),
    ]


def stages() -> list[Builder[model.Panel]]:
    """The turn overhead split into its stages (shared/stages.py): mean time per stage, stacked, and each p99."""
    mean = (
        f"sum by (stage) (rate(voicechat_turn_stage_seconds_sum{{{NS}}}[$__rate_interval])) / "
        f"sum by (stage) (rate(voicechat_turn_stage_seconds_count{{{NS}}}[$__rate_interval]))"
    )
    stacked = graph("Turn stages, mean (stacked)", "s", [query(mean, "{{stage}}")], width=12).stacking(
        common.StackingConfig().mode(common_model.StackingMode.NORMAL)
    )
    p99 = (
        "histogram_quantile(0.99, sum by (le, stage) "
        f"(rate(voicechat_turn_stage_seconds_bucket{{{NS}}}[$__rate_interval])))"
    )
    return [
        stacked.fill_opacity(40),
        graph("Turn stages, p99", "s", [query(p99, "{{stage}}")], width=12),
        graph("Conversation log records / s", "reqps", [rate("voicechat_convlog_records_total", "outcome")], 12),
        graph(
            "Conversation log records waiting for JetStream",
            "short",
            [query(f"sum by (pod) (voicechat_convlog_buffered{{{NS}}})", "{{pod}}")],
            width=12,
        ),
    ]


def ownership() -> list[Builder[model.Panel]]:
    """Session ownership on the KV buckets and how the loops weather NATS outages (issue 12, docs/metrics.md)."""
    return [
        graph(
            "Workers alive (liveness keys, as gateways see them)",
            "short",
            [query(f"max by (kind, state) (voicechat_liveness_workers{{{NS}}})", "{{kind}} {{state}}")],
        ),
        graph("Owners lost and re-claimed / s", "reqps", [rate("voicechat_owner_moves_total", "kind, reason")]),
        graph(
            "Session record writes / s (compare-and-set)",
            "reqps",
            [rate("voicechat_ownership_writes_total", "outcome")],
        ),
        graph(
            "Stale-epoch messages dropped / s",
            "reqps",
            [rate("voicechat_stale_epoch_messages_total", "kind")],
        ),
        graph("Errors survived by background loops / s", "reqps", [rate("voicechat_loop_errors_total", "loop")]),
        graph(
            "Messages dropped by gateways (NATS away or buffer full) / s",
            "reqps",
            [rate("voicechat_publishes_dropped_total", "pod, kind")],
        ),
    ]


def traffic() -> list[Builder[model.Panel]]:
    return [
        graph("Errors / s by service and code", "reqps", [rate("voicechat_errors_total", "service, code")]),
        graph("WebSocket messages / s", "reqps", [rate("voicechat_ws_messages_total", "direction, type")]),
        graph(
            "VAD frames heard and forwarded as turn audio / s",
            "short",
            [
                rate("voicechat_vad_frames_total", "pod"),
                query(
                    f"sum by (pod) (rate(voicechat_turn_audio_frames_total{{{NS}}}[$__rate_interval]))",
                    "{{pod}} forwarded",
                ),
            ],
        ),
        graph("VAD illegal inputs / s", "short", [rate("voicechat_vad_illegal_inputs_total", "phase, input")]),
        graph("Silero batch size (streams per call)", "short", quantiles("voicechat_vad_batch_streams")),
    ]


def local_agent() -> list[Builder[model.Panel]]:
    return [
        graph(
            "Recognition passes waiting for a worker",
            "short",
            [query(f"sum by (pod) (voicechat_local_cx_recognition_queue{{{NS}}})", "{{pod}}")],
        ),
        graph("Recognition time (final pass)", "s", quantiles("voicechat_local_cx_recognition_seconds")),
        graph("Agent streams open", "short", [query(f"sum(voicechat_local_cx_streams_active{{{NS}}})", "streams")]),
    ]


def phone() -> list[Builder[model.Panel]]:
    return [
        graph("Phone calls open", "short", [query(f"sum(voicechat_phone_calls_active{{{NS}}})", "calls")]),
        graph(
            "Call minutes / min",
            "short",
            [query(f"sum(rate(voicechat_phone_call_seconds_total{{{NS}}}[$__rate_interval]))", "minutes / min")],
        ),
        graph("Calls ended / s by outcome", "reqps", [rate("voicechat_phone_calls_total", "outcome")]),
        graph(
            "Clear latency (caller speech over the bot to clear)",
            "s",
            quantiles("voicechat_phone_clear_latency_seconds"),
        ),
    ]


def resources() -> list[Builder[model.Panel]]:
    scope = f'{NS}, job=~"{SERVICES}"'
    return [
        graph(
            "CPU per service (cores)",
            "short",
            [query(f"sum by (job) (rate(process_cpu_seconds_total{{{scope}}}[$__rate_interval]))", "{{job}}")],
            width=12,
        ),
        graph(
            "Memory per service (resident)",
            "bytes",
            [query(f"sum by (job) (process_resident_memory_bytes{{{scope}}})", "{{job}}")],
            width=12,
        ),
    ]


def build() -> model.Dashboard:
    """The dashboard model, rows in order, panels numbered."""
    board = (
        dashboard.Dashboard("Voicechat")
        .uid("voicechat")
        .tags(["voicechat"])
        .refresh("30s")
        .time("now-3h", "now")
        .timezone("browser")
        .variables(variables())  # type: ignore[arg-type]
    )
    rows: dict[str, Sequence[Builder[model.Panel]]] = {
        "Overview": overview(),
        "Turns and tools": turns(),
        "Turn stages and conversation log": stages(),
        "Session ownership and NATS outages": ownership(),
        "Traffic": traffic(),
        "Local agent": local_agent(),
        "Phone calls": phone(),
        "Resources": resources(),
    }
    for title, panels in rows.items():
        board = board.with_row(dashboard.Row(title))
        for panel in panels:
            board = board.with_panel(panel)
    built = board.build()
    for number, item in enumerate(built.panels or [], start=1):
        item.id_val = number
    return built


def render() -> str:
    """The dashboard JSON exactly as committed."""
    return json.dumps(build(), cls=JSONEncoder, indent=2, sort_keys=True) + "\n"


def main() -> None:
    OUTPUT.write_text(render())
    print(f"wrote {OUTPUT}")


if __name__ == "__main__":
    main()
