"""The evaluation report: a table per condition with the engines side by side, printed and saved
(`report.md`, and `report.json` with every turn) under the output directory."""

import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.eval.scoring import Outcome, summarise

COLUMNS = (
    ("both_right", "intent+params", "{:.1%}"),
    ("intent_accuracy", "intent", "{:.1%}"),
    ("parameter_accuracy", "params", "{:.1%}"),
    ("wer", "WER", "{:.1%}"),
    ("latency_p50_s", "final after speech end p50 (s)", "{:.2f}"),
    ("latency_p90_s", "p90 (s)", "{:.2f}"),
    ("after_speech_ended_p50_s", "final after speech_ended p50 (s)", "{:.2f}"),
    ("no_answer", "no answer", "{}"),
)


def _cell(value: Any, fmt: str) -> str:
    return "-" if value is None else fmt.format(value)


def build(outcomes: Sequence[Outcome], conditions: Sequence[str], engines: Sequence[str]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for engine in engines:
        mine = [o for o in outcomes if o.engine == engine]
        summary[engine] = {c: summarise(o for o in mine if o.condition == c) for c in conditions}
        for voice_engine in ("espeak-ng", "flite"):
            clean = [o for o in mine if o.condition == "clean" and o.voice.startswith(voice_engine)]
            summary[engine][f"clean ({voice_engine} voices)"] = summarise(clean)
    return summary


def markdown(summary: dict[str, Any], title: str) -> str:
    lines = [f"# {title}", ""]
    header = "| engine | condition | turns | " + " | ".join(label for _, label, _ in COLUMNS) + " |"
    lines += [header, "|" + "---|" * (header.count("|") - 1)]
    for engine, rows in summary.items():
        for condition, row in rows.items():
            cells = " | ".join(_cell(row[key], fmt) for key, _, fmt in COLUMNS)
            lines.append(f"| {engine} | {condition} | {row['turns']} | {cells} |")
    return "\n".join(lines) + "\n"


def save(out: Path, summary: dict[str, Any], outcomes: Sequence[Outcome], text: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text(text)
    turns = [{**asdict(o), "both_right": o.both_right} for o in outcomes]
    (out / "report.json").write_text(json.dumps({"summary": summary, "turns": turns}, indent=1))
