"""Builders of the real Dialogflow CX v3 response messages from the agent's outcomes."""

import uuid
from typing import Any

from google.cloud import dialogflowcx_v3 as cx

from local_agent.dialogue import Outcome
from shared.agent_contract import AGENT_TIME_KEY


def agent_path(session: str) -> str:
    """`projects/P/locations/L/agents/A[/environments/E]/sessions/S` -> `projects/P/locations/L/agents/A`."""
    return "/".join(session.split("/")[:6])


def recognition(kind: int, transcript: str = "", final: bool = False, confidence: float = 0.0) -> Any:
    result = cx.StreamingRecognitionResult(
        message_type=kind, transcript=transcript, is_final=final, confidence=confidence, language_code="en-us"
    )
    return cx.StreamingDetectIntentResponse(recognition_result=result)


def query_result(
    outcome: Outcome | None, session: str, *, text: str | None, transcript: str | None, reply: str | None
) -> Any:
    """A QueryResult: input, match (intent display name, confidence), parameters, text or tool_call messages."""
    result = cx.QueryResult(language_code="en")
    if text is not None:
        result.text = text
    if transcript is not None:
        result.transcript = transcript
    messages = []
    if outcome is not None:
        result.parameters = outcome.parameters
        intent = cx.Intent(
            name=f"{agent_path(session)}/intents/{outcome.match.intent}", display_name=outcome.match.intent
        )
        no_match = outcome.match.intent_def is None
        match_type = cx.Match.MatchType.NO_MATCH if no_match else cx.Match.MatchType.INTENT
        result.match = cx.Match(
            intent=intent,
            confidence=outcome.match.confidence,
            match_type=match_type,
            parameters=outcome.match.parameters,
            resolved_input=text or transcript or "",
        )
        result.intent_detection_confidence = outcome.match.confidence
        if outcome.tool is not None:
            call = cx.ToolCall(
                tool=f"{agent_path(session)}/tools/{outcome.tool}",
                action=outcome.tool,
                input_parameters=outcome.tool_inputs,
            )
            messages.append(cx.ResponseMessage(tool_call=call))
    if reply is not None:
        messages.append(cx.ResponseMessage(text=cx.ResponseMessage.Text(text=[reply])))
    result.response_messages = messages
    return result


def final_response(result: Any, audio: bytes, rate: int, processing_ms: float) -> Any:
    """A FINAL DetectIntentResponse; `audio` is raw LINEAR16 (no RIFF header), empty when there is none."""
    result.diagnostic_info = {AGENT_TIME_KEY: round(processing_ms, 3)}
    response = cx.DetectIntentResponse(
        response_id=uuid.uuid4().hex, query_result=result, response_type=cx.DetectIntentResponse.ResponseType.FINAL
    )
    if audio:
        response.output_audio = audio
        response.output_audio_config = cx.OutputAudioConfig(
            audio_encoding=cx.OutputAudioEncoding.OUTPUT_AUDIO_ENCODING_LINEAR_16, sample_rate_hertz=rate
        )
    return response
