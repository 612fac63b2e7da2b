"""A turn's log record (dialog_worker/turn_log.py): what a tool returned as the log keeps it, written once."""

from typing import Any

import pytest

from dialog_worker.turn_log import TurnLog, tool_call_of
from shared.convlog.records import AnyRecord, ToolCall, TurnRecord


@pytest.mark.parametrize(
    ("output", "ids", "total"),
    [
        ({"products": [{"id": 3, "title": "a"}, {"id": 9, "title": "b"}], "total": 12}, [3, 9], 12),
        ({"products": [], "total": 0}, [], 0),
        ({"product": {"id": 12, "title": "c"}}, [12], 1),
        ({"unexpected": True}, [], None),
    ],
)
def test_tool_results_keep_product_ids_and_totals(output: dict[str, Any], ids: list[int], total: int | None) -> None:
    call = tool_call_of("search_products", {"query": "shoes"}, output)
    assert (call.product_ids, call.total, call.error) == (ids, total, None)


class Collect:
    def __init__(self) -> None:
        self.records: list[AnyRecord] = []

    def write(self, record: AnyRecord) -> bool:
        self.records.append(record)
        return True


def test_a_turn_is_written_once_with_what_it_gathered() -> None:
    sink = Collect()
    log = TurnLog("a" * 32, 4, "speech", sink)  # type: ignore[arg-type]
    log.transcript, log.intent, log.answer = "tell me about product 999", "product_details", "Sorry"
    log.tool(ToolCall("get_product", {"product_id": 999}, error="not_found"))
    log.error_code = "tool_failed"
    log.interrupted_by = "barge_in"  # not interrupted in the end: not on record
    log.finish("answered")
    log.finish("interrupted")  # a late cancel of a finished turn changes nothing
    (record,) = sink.records
    assert isinstance(record, TurnRecord)
    assert (record.turn_id, record.outcome, record.error_code, record.interrupted_by) == (
        4,
        "answered",
        "tool_failed",
        None,
    )
    assert record.tool_calls == [ToolCall("get_product", {"product_id": 999}, error="not_found")]


def test_an_interrupted_turn_says_by_what() -> None:
    sink = Collect()
    log = TurnLog("a" * 32, 2, "text", sink, transcript="show me shoes")  # type: ignore[arg-type]
    log.interrupted_by = "speech"
    log.finish("interrupted")
    (record,) = sink.records
    assert isinstance(record, TurnRecord) and record.interrupted_by == "speech" and record.input == "text"
