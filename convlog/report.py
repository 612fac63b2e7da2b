"""Reports over conversation log records (pure): top queries, queries with no results, intents, rates.

A query is what the shopper said or typed (the turn's final transcript, lower-cased, spaces collapsed). A query
with no results is a turn whose product search returned nothing (`total` 0); it is listed by the search's `query`
argument, the words the catalog was asked for. The fallback rate is the share of turns with an intent that fell
to `fallback`; the interruption rate is the share of all turns that ended `interrupted`.
"""

from collections import Counter
from collections.abc import Iterable

import msgspec

from shared.convlog.records import AnyRecord, SessionStarted, TurnRecord

FALLBACK = "fallback"
SEARCH_TOOL = "search_products"


class Report(msgspec.Struct):
    sessions: int
    turns: int
    outcomes: dict[str, int]
    top_queries: list[tuple[str, int]]
    no_result_queries: list[tuple[str, int]]
    intents: dict[str, int]
    fallback_rate: float | None
    interruption_rate: float | None
    failure_codes: dict[str, int]


def _normal(text: str) -> str:
    return " ".join(text.lower().split())


def _no_result_queries(turn: TurnRecord) -> list[str]:
    found = []
    for call in turn.tool_calls:
        if call.tool == SEARCH_TOOL and call.error is None and call.total == 0:
            query = call.arguments.get("query")
            found.append(_normal(query if isinstance(query, str) else turn.transcript))
    return found


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def build(records: Iterable[AnyRecord], top: int = 10) -> Report:
    sessions: set[str] = set()
    turns: list[TurnRecord] = []
    for record in records:
        if isinstance(record, SessionStarted):
            sessions.add(record.session_id)
        elif isinstance(record, TurnRecord):
            turns.append(record)
            sessions.add(record.session_id)
    queries = Counter(_normal(t.transcript) for t in turns if t.transcript.strip())
    no_results = Counter(query for t in turns for query in _no_result_queries(t))
    intents = Counter(t.intent for t in turns if t.intent)
    outcomes = Counter(t.outcome for t in turns)
    failures = Counter(t.error_code or "unknown" for t in turns if t.outcome == "failed")
    return Report(
        sessions=len(sessions),
        turns=len(turns),
        outcomes=dict(sorted(outcomes.items())),
        top_queries=queries.most_common(top),
        no_result_queries=no_results.most_common(top),
        intents=dict(intents.most_common()),
        fallback_rate=_rate(intents[FALLBACK], sum(intents.values())),
        interruption_rate=_rate(outcomes["interrupted"], len(turns)),
        failure_codes=dict(failures.most_common()),
    )


def _percent(rate: float | None) -> str:
    return "n/a" if rate is None else f"{100 * rate:.1f} %"


def render(report: Report) -> str:
    lines = [
        f"sessions: {report.sessions}",
        f"turns: {report.turns} ({', '.join(f'{k} {v}' for k, v in report.outcomes.items()) or 'none'})",
        f"fallback rate: {_percent(report.fallback_rate)}",
        f"interruption rate: {_percent(report.interruption_rate)}",
    ]
    for title, rows in (
        ("top queries", report.top_queries),
        ("queries with no results", report.no_result_queries),
        ("intents", list(report.intents.items())),
        ("failed turns by code", list(report.failure_codes.items())),
    ):
        lines.append(f"{title}:")
        lines.extend(f"  {count:6d}  {text}" for text, count in rows)
        if not rows:
            lines.append("  (none)")
    return "\n".join(lines)
