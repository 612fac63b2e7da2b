"""What one turn leaves behind: its conversation log record, its stage timings and its trace spans.

docs/conversation_log.md (the record), docs/observability.md (stages and spans). A turn collects its facts as it
runs (transcript, intent, tool calls, answer) and `finish` writes the record once, whatever ended the turn.
"""

import time
import uuid
from typing import Any

from opentelemetry.trace import Span

from shared import stages, tracing
from shared.convlog.records import Interruption, Outcome, ToolCall, TurnInput, TurnRecord
from shared.convlog.writer import LogWriter

_SPAN_NAMES: dict[stages.Stage, str] = {
    "end_of_input": "end of input",
    "recognition": "recognition",
    "tool_call": "tool call",
    "agent_after_tool": "agent after tool",
    "first_audio": "first audio",
}


def tool_call_of(tool: str, arguments: dict[str, Any], output: dict[str, Any]) -> ToolCall:
    """What a tool returned, as the log keeps it: product ids and the total (search) or the one product."""
    products = output.get("products")
    product = output.get("product")
    if isinstance(products, list):
        ids = [p["id"] for p in products if isinstance(p, dict) and isinstance(p.get("id"), int)]
        total = output.get("total")
        return ToolCall(tool, arguments, ids, total if isinstance(total, int) else len(ids))
    if isinstance(product, dict) and isinstance(product.get("id"), int):
        return ToolCall(tool, arguments, [product["id"]], 1)
    return ToolCall(tool, arguments)


class TurnLog:
    """Facts, stages and spans of one turn; `parent` is the trace context that opened it (VAD or gateway)."""

    def __init__(
        self,
        session_id: str,
        turn_id: int,
        input_kind: TurnInput,
        writer: LogWriter | None,
        parent: tracing.Parent = None,
        transcript: str = "",
    ) -> None:
        self.session_id = session_id
        self.turn_id = turn_id
        self.input = input_kind
        self.transcript = transcript
        self.intent: str | None = None
        self.confidence: float | None = None
        self.parameters: dict[str, Any] = {}
        self.tool_calls: list[ToolCall] = []
        self.answer = ""
        self.error_code: str | None = None  # a non-fatal error the client got (a tool failure the agent answered)
        self.interrupted_by: Interruption | None = None
        self.stages_ms: dict[str, float] = {}
        self._writer = writer
        self._started_at = time.time()
        self._wall0, self._perf0 = time.time_ns(), time.perf_counter()
        self.span: Span | None = tracing.start("dialog turn", parent, self._wall0, turn_id=turn_id, input=input_kind)
        self._done = False

    def headers(self) -> dict[str, str] | None:
        """NATS headers carrying this turn's trace context (None when tracing is off)."""
        return tracing.headers(self.span)

    def wall_ns(self, perf: float) -> int:
        """A `time.perf_counter()` reading as span time."""
        return self._wall0 + int((perf - self._perf0) * 1e9)

    def stage(self, stage: stages.Stage, began: float, error: str | None = None, span: Span | None = None) -> float:
        """A stage from `began` (perf_counter) to now: metric, record and span (`span` when the caller opened it
        to pass its context on); returns now."""
        end = time.perf_counter()
        stages.observe(stage, end - began)
        self.stages_ms[stage] = round(self.stages_ms.get(stage, 0.0) + (end - began) * 1000, 2)
        if self.span is not None:
            opened = span or tracing.start(_SPAN_NAMES[stage], self.span, self.wall_ns(began))
            tracing.end(opened, self.wall_ns(end), error=error)
        return end

    def child(self, name: str, began: float, **attributes: Any) -> Span | None:
        """A span inside the turn, started at `began` (perf_counter), for the caller to end."""
        return tracing.start(name, self.span, self.wall_ns(began), **attributes) if self.span is not None else None

    def tool(self, call: ToolCall) -> None:
        self.tool_calls.append(call)

    def finish(self, outcome: Outcome, error_code: str | None = None) -> None:
        """Write the turn's record and end its span; only the first call counts."""
        if self._done:
            return
        self._done = True
        error_code = error_code or self.error_code
        interrupted_by = self.interrupted_by if outcome == "interrupted" else None
        tracing.end(self.span, error=error_code if outcome == "failed" else None, outcome=outcome)
        if self._writer is None:
            return
        self._writer.write(
            TurnRecord(
                session_id=self.session_id,
                at=time.time(),
                turn_id=self.turn_id,
                turn_key=uuid.uuid4().hex[:12],
                input=self.input,
                outcome=outcome,
                transcript=self.transcript,
                intent=self.intent,
                confidence=self.confidence,
                parameters=self.parameters,
                tool_calls=self.tool_calls,
                answer=self.answer,
                error_code=error_code,
                interrupted_by=interrupted_by,
                stages_ms=self.stages_ms,
                started_at=self._started_at,
            )
        )
