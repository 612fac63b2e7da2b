"""What every Dialogflow CX call of a turn shares: the session's dependencies, the one-shot `detect` with its retry
at the start (dialog_worker/agent_errors.py), and the agent's own processing time (reported by the local agent,
`local_agent/replies.py`, under the key in `shared/agent_contract.py`)."""

from dataclasses import dataclass

from google.cloud import dialogflowcx_v3 as cx
from nats.aio.client import Client as NATS

from dialog_worker.agent_errors import retry_at_start
from shared.agent_contract import AGENT_TIME_KEY
from shared.metrics import AGENT_PROCESSING, DIALOGFLOW_REQUESTS
from shared.settings import DialogSettings
from shared.structs import struct_to_dict


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


def observe_agent_time(response: cx.DetectIntentResponse) -> None:
    info = struct_to_dict(response.query_result._pb.diagnostic_info)
    value = info.get(AGENT_TIME_KEY)
    if isinstance(value, int | float):
        AGENT_PROCESSING.observe(value / 1000)


def count_failure(status: str) -> None:
    DIALOGFLOW_REQUESTS.labels(status).inc()


async def detect(deps: CxDeps, query: cx.QueryInput) -> cx.DetectIntentResponse:
    """One `DetectIntent` (text, or a tool's result); retried while the agent is unavailable at the start."""
    request = cx.DetectIntentRequest(
        session=deps.session_path, query_input=query, output_audio_config=deps.output_config()
    )

    async def attempt(_answered: list[bool]) -> cx.DetectIntentResponse:
        return await deps.client.detect_intent(request=request, timeout=30, retry=None)

    response = await retry_at_start(attempt, deps.settings.dialog_start_retry_s, count_failure)
    DIALOGFLOW_REQUESTS.labels("OK").inc()
    observe_agent_time(response)
    return response
