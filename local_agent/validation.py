"""Request checks answered with the gRPC status real Dialogflow CX uses (INVALID_ARGUMENT and friends)."""

import re
from typing import Any

import grpc
from google.cloud import dialogflowcx_v3 as cx

from shared.settings import SAMPLE_RATES

SESSION_PATH = re.compile(r"^projects/[^/]+/locations/[^/]+/agents/[^/]+(?:/environments/[^/]+)?/sessions/[^/]{1,128}$")
OUTPUT_RATES = (8000, 16000, 22050, 24000, 32000, 44100, 48000)


class RequestError(Exception):
    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def invalid(message: str) -> RequestError:
    return RequestError(grpc.StatusCode.INVALID_ARGUMENT, message)


def check_session(session: str) -> str:
    if not SESSION_PATH.match(session):
        raise invalid(f"session must look like projects/*/locations/*/agents/*/sessions/*, got {session!r}")
    return session


def output_rate(config: Any) -> int:
    """The LINEAR16 output rate, or 0 when no output audio was requested."""
    encoding = config.audio_encoding
    if encoding == cx.OutputAudioEncoding.OUTPUT_AUDIO_ENCODING_UNSPECIFIED:
        return 0
    if encoding != cx.OutputAudioEncoding.OUTPUT_AUDIO_ENCODING_LINEAR_16:
        raise invalid(f"unsupported output audio encoding {encoding.name}: only OUTPUT_AUDIO_ENCODING_LINEAR_16")
    rate = int(config.sample_rate_hertz) or 16000
    if rate not in OUTPUT_RATES:
        raise invalid(f"unsupported output sample_rate_hertz {rate}")
    return rate


def input_audio(query_input: Any) -> tuple[int, bool]:
    """(sample rate, single_utterance) of an audio query; INVALID_ARGUMENT for a missing or unsupported config."""
    if "audio" not in query_input:
        raise invalid("the first request must carry query_input.audio.config or query_input.text")
    if "config" not in query_input.audio:
        raise invalid("query_input.audio.config is required in the first request")
    config = query_input.audio.config
    if config.audio_encoding != cx.AudioEncoding.AUDIO_ENCODING_LINEAR_16:
        raise invalid(f"unsupported audio encoding {config.audio_encoding.name}: only AUDIO_ENCODING_LINEAR_16")
    rate = int(config.sample_rate_hertz)
    if rate not in SAMPLE_RATES:
        raise invalid(f"unsupported sample_rate_hertz {rate}: use one of {SAMPLE_RATES}")
    return rate, bool(config.single_utterance)


def query_kind(query_input: Any) -> str:
    for kind in ("text", "tool_call_result", "audio"):
        if kind in query_input:
            return kind
    raise invalid("query_input needs text, audio or tool_call_result")
