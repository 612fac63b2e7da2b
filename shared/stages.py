"""The stages of a turn, end of the user's speech to the first answer audio on the socket (docs/observability.md).

Each service times the stages it runs and observes them in `voicechat_turn_stage_seconds{stage}`; the dialog
worker also stores its stages in the turn's conversation log record. Bus transit between services is not a stage:
it is what remains of the turn overhead once the stages are taken out (`make bench` prints it).
"""

import functools
from typing import Literal

from prometheus_client import Histogram

from shared.metrics import TURN_STAGE

Stage = Literal[
    "gateway_in",  # gateway: client message read -> published on NATS (audio: one frame in GATEWAY_IN_SAMPLE)
    "vad_end",  # VAD worker: frame that ends the speech received -> speech_ended published
    "end_of_input",  # dialog worker: end of speech known -> the audio stream to the agent closed
    "recognition",  # dialog worker: input closed (or text sent) -> the agent's final answer (its own time included)
    "tool_call",  # dialog worker: tool request sent -> tools worker's reply
    "agent_after_tool",  # dialog worker: tool result sent -> the agent's answer
    "first_audio",  # dialog worker: the agent's answer in hand -> first audio_response published
    "gateway_out",  # gateway: first audio_response of a turn off NATS -> written to the socket
]
STAGES: tuple[Stage, ...] = (
    "gateway_in",
    "vad_end",
    "end_of_input",
    "recognition",
    "tool_call",
    "agent_after_tool",
    "first_audio",
    "gateway_out",
)
GATEWAY_IN_SAMPLE = 50  # audio frames are timed one in 50 (once a second of audio): the stage costs nothing per frame


@functools.cache
def _child(stage: Stage) -> Histogram:
    return TURN_STAGE.labels(stage)


def observe(stage: Stage, seconds: float) -> None:
    _child(stage).observe(seconds)
