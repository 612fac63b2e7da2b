"""A tool call the agent asked for: call the `tools` service over NATS (`shared/tools/`), tell the client, and send
the result (or the error) back to the agent, whose answer is returned (docs/tools.md). The call (product ids and
total, or the error code), the `tool_call` and `agent_after_tool` stages and a `tool call` span, whose context
travels with the request to the tools worker, go to the turn's log (`turn_log.py`)."""

import time

from google.cloud import dialogflowcx_v3 as cx

from dialog_worker.cx_calls import CxDeps, detect
from dialog_worker.turn_api import TurnSink
from dialog_worker.turn_log import TurnLog, tool_call_of
from shared import tracing
from shared.convlog.records import ToolCall
from shared.metrics import TOOL_CALL_LATENCY, TOOL_CALLS
from shared.protocol import Error, ToolResult
from shared.structs import dict_to_struct, struct_to_dict
from shared.tools.client import call_tool
from shared.tools.errors import ToolError


async def run_tool(deps: CxDeps, sink: TurnSink, record: TurnLog, call: cx.ToolCall) -> cx.DetectIntentResponse:
    name = call.action or call.tool.rsplit("/", 1)[-1]
    turn_id = record.turn_id
    outcome = cx.ToolCallResult(tool=call.tool, action=call.action)
    started = time.perf_counter()
    arguments = struct_to_dict(call._pb.input_parameters)
    span = record.child("tool call", started, tool=name)
    error: str | None = None
    try:
        output = await call_tool(deps.nc, name, arguments, deps.settings.tool_timeout_s, tracing.headers(span))
        TOOL_CALLS.labels(name, "ok").inc()
        record.tool(tool_call_of(name, arguments, output))
        await sink.emit(turn_id, ToolResult(turn_id=turn_id, tool=name, output=output))
        outcome.output_parameters = dict_to_struct(output)
    except ToolError as exc:
        error = exc.code
        TOOL_CALLS.labels(name, exc.code).inc()
        record.tool(ToolCall(name, arguments, error=exc.code))
        record.error_code = "tool_failed"
        await sink.emit(turn_id, Error(code="tool_failed", message=exc.message, turn_id=turn_id, fatal=False))
        outcome.error = cx.ToolCallResult.Error(message=exc.message)
    finally:
        TOOL_CALL_LATENCY.labels(name).observe(time.perf_counter() - started)
        sent = record.stage("tool_call", started, error, span)
    response = await detect(deps, cx.QueryInput(tool_call_result=outcome, language_code=deps.language))
    record.stage("agent_after_tool", sent)
    return response
