"""A tool call the agent asked for: call the `tools` service over NATS (`shared/tools/`), tell the client, and send
the result (or the error) back to the agent, whose answer is returned (docs/tools.md)."""

import time

from google.cloud import dialogflowcx_v3 as cx

from dialog_worker.cx_calls import CxDeps, detect
from dialog_worker.turn_api import TurnSink
from shared.metrics import TOOL_CALL_LATENCY, TOOL_CALLS
from shared.protocol import Error, ToolResult
from shared.structs import dict_to_struct, struct_to_dict
from shared.tools.client import call_tool
from shared.tools.errors import ToolError


async def run_tool(deps: CxDeps, sink: TurnSink, turn_id: int, call: cx.ToolCall) -> cx.DetectIntentResponse:
    name = call.action or call.tool.rsplit("/", 1)[-1]
    outcome = cx.ToolCallResult(tool=call.tool, action=call.action)
    started = time.perf_counter()
    try:
        output = await call_tool(deps.nc, name, struct_to_dict(call._pb.input_parameters), deps.settings.tool_timeout_s)
        TOOL_CALLS.labels(name, "ok").inc()
        await sink.emit(turn_id, ToolResult(turn_id=turn_id, tool=name, output=output))
        outcome.output_parameters = dict_to_struct(output)
    except ToolError as exc:
        TOOL_CALLS.labels(name, exc.code).inc()
        await sink.emit(turn_id, Error(code="tool_failed", message=exc.message, turn_id=turn_id, fatal=False))
        outcome.error = cx.ToolCallResult.Error(message=exc.message)
    finally:
        TOOL_CALL_LATENCY.labels(name).observe(time.perf_counter() - started)
    return await detect(deps, cx.QueryInput(tool_call_result=outcome, language_code=deps.language))
