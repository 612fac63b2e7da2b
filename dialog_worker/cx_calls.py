"""What every Dialogflow CX call of a turn shares: the session's dependencies, the one-shot `detect` with its retry,
status codes, and the agent's own processing time (reported by the local agent, `local_agent/replies.py`)."""

import asyncio
from dataclasses import dataclass

from google.api_core.exceptions import GoogleAPICallError
from google.cloud import dialogflowcx_v3 as cx
from nats.aio.client import Client as NATS

from shared.metrics import AGENT_PROCESSING, DIALOGFLOW_REQUESTS
from shared.settings import DialogSettings
from shared.structs import struct_to_dict

AGENT_TIME_KEY = "local_agent_processing_ms"
RETRY_BACKOFF_S = 0.5
RETRYABLE = frozenset({"UNAVAILABLE", "DEADLINE_EXCEEDED"})


@dataclass(frozen=True)
class CxDeps:
    """One session's way to the agent (and to the tools, over NATS)."""

    client: cx.SessionsAsyncClient
    nc: NATS
    settings: DialogSettings
    session_path: str
    language: str

    def output_config(self) -> cx.OutputAudioConfig:
        return cx.OutputAudioConfig(
            audio_encoding=cx.OutputAudioEncoding.OUTPUT_AUDIO_ENCODING_LINEAR_16,
            sample_rate_hertz=self.settings.output_sample_rate,
        )


def status(exc: GoogleAPICallError) -> str:
    code = exc.grpc_status_code
    return code.name if code is not None else "UNKNOWN"


def unreachable(exc: GoogleAPICallError) -> bool:
    """The agent cannot be reached at all (down, refused), as opposed to a call that failed or timed out."""
    return status(exc) == "UNAVAILABLE" and "failed to connect" in str(exc.message).lower()


def observe_agent_time(response: cx.DetectIntentResponse) -> None:
    info = struct_to_dict(response.query_result._pb.diagnostic_info)
    value = info.get(AGENT_TIME_KEY)
    if isinstance(value, int | float):
        AGENT_PROCESSING.observe(value / 1000)


async def detect(deps: CxDeps, query: cx.QueryInput) -> cx.DetectIntentResponse:
    """One `DetectIntent` (text, or a tool's result); retried once after a transient failure."""
    request = cx.DetectIntentRequest(
        session=deps.session_path, query_input=query, output_audio_config=deps.output_config()
    )
    for attempt in range(2):
        try:
            response = await deps.client.detect_intent(request=request, timeout=30, retry=None)
            DIALOGFLOW_REQUESTS.labels("OK").inc()
            observe_agent_time(response)
            return response
        except GoogleAPICallError as exc:
            DIALOGFLOW_REQUESTS.labels(status(exc)).inc()
            if attempt or status(exc) not in RETRYABLE:
                raise
            await asyncio.sleep(RETRY_BACKOFF_S)
    raise AssertionError("unreachable")
