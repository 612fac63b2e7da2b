"""The one Dialogflow CX client of the worker: Google's regional endpoint, or the local agent over plain gRPC."""

import re

import grpc
from google.api_core.client_options import ClientOptions
from google.cloud.dialogflowcx_v3 import SessionsAsyncClient
from google.cloud.dialogflowcx_v3.services.sessions.transports import SessionsGrpcAsyncIOTransport

from shared.settings import DialogSettings

LOCAL_AGENT = "projects/local/locations/global/agents/marketplace"
# Reconnect fast when the local agent restarts (gRPC's default backoff grows to two minutes).
_LOCAL_CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 500),
]
_AGENT = re.compile(r"^projects/[^/]+/locations/(?P<location>[^/]+)/agents/[^/]+$")


def agent_path(settings: DialogSettings) -> str:
    agent = settings.dialogflow_agent or LOCAL_AGENT
    if not _AGENT.match(agent):
        raise ValueError("VOICECHAT_DIALOGFLOW_AGENT must look like projects/P/locations/L/agents/A")
    return agent


def regional_endpoint(agent: str) -> str:
    match = _AGENT.match(agent)
    location = match.group("location") if match else "global"
    return "dialogflow.googleapis.com" if location == "global" else f"{location}-dialogflow.googleapis.com"


def make_client(settings: DialogSettings) -> SessionsAsyncClient:
    """Google (Application Default Credentials) when an agent is configured, else the local agent."""
    if settings.dialogflow_agent:
        endpoint = settings.dialogflow_endpoint or regional_endpoint(settings.dialogflow_agent)
        return SessionsAsyncClient(client_options=ClientOptions(api_endpoint=endpoint))
    endpoint = settings.dialogflow_endpoint or f"{settings.local_cx_host}:{settings.local_cx_port}"
    channel = grpc.aio.insecure_channel(endpoint, options=_LOCAL_CHANNEL_OPTIONS)
    return SessionsAsyncClient(transport=SessionsGrpcAsyncIOTransport(channel=channel))


def session_path(settings: DialogSettings, session_id: str) -> str:
    agent = agent_path(settings)
    if settings.dialogflow_environment:
        return f"{agent}/environments/{settings.dialogflow_environment}/sessions/{session_id}"
    return f"{agent}/sessions/{session_id}"
