"""Typed, validated settings read from `VOICECHAT_*` environment variables, one struct per service.

One namespace: a variable means the same in every service that reads it (README.md lists them all). Each service
loads only its own group (`load_settings(GatewaySettings)`), so it validates exactly what it uses.
"""

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal, TypeVar

import msgspec

ENV_PREFIX = "VOICECHAT_"
SAMPLE_RATES = (8000, 16000, 32000, 44100, 48000)

DEFAULT_CATALOG = str(Path(__file__).resolve().parents[1] / "data" / "dummyjson-products.json")

LOCAL_CX_HOST = "127.0.0.1"
LOCAL_CX_PORT = 6565

LANGUAGE_TAG = r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,2}$"  # BCP-47, as far as the services need

Positive = Annotated[float, msgspec.Meta(gt=0)]
Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]


class CommonSettings(msgspec.Struct, frozen=True, kw_only=True):
    """What every process reads."""

    nats_url: str = "nats://127.0.0.1:4222"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    metrics_port: Port | None = None
    drain_grace_s: Annotated[float, msgspec.Meta(ge=0)] = 20.0
    event_loop: Literal["asyncio", "uvloop"] = "asyncio"
    nats_pending_bytes: Annotated[int, msgspec.Meta(ge=64 * 1024)] = 64 * 1024 * 1024
    nats_ping_interval_s: Positive = 5.0
    # publishes of the audio path held this long and sent in one socket write (shared/publish_batch.py); 0: at once
    publish_window_ms: Annotated[float, msgspec.Meta(ge=0, le=20)] = 2.0


class SessionPlaneSettings(CommonSettings, frozen=True, kw_only=True):
    """Session ownership (shared/session_worker.py, gateway/owners.py): the gateway and the per-session workers."""

    claim_timeout_s: Positive = 2.0
    heartbeat_interval_s: Positive = 0.5
    owner_stale_s: Positive = 1.5
    session_idle_timeout_s: Positive = 60.0
    announce_interval_s: Positive = 5.0
    kv_replicas: Literal[1, 3, 5] = 1
    # the VAD owner forwards a turn's audio to the dialog owner, which then no longer hears every frame
    # (docs/audio_path.md); false: the dialog owner hears every frame, as before turn audio
    turn_audio: bool = True
    preroll_ms: Annotated[int, msgspec.Meta(ge=0, le=2000)] = 300


class ConvlogSettings(SessionPlaneSettings, frozen=True, kw_only=True):
    """The conversation log (docs/conversation_log.md): a JetStream stream the gateway and dialog workers write."""

    convlog_enabled: bool = True
    convlog_replicas: Annotated[int, msgspec.Meta(ge=1, le=5)] = 1
    convlog_max_age_days: Annotated[float, msgspec.Meta(gt=0, le=3650)] = 30.0
    convlog_max_bytes: Annotated[int, msgspec.Meta(ge=1024 * 1024)] = 1024 * 1024 * 1024
    convlog_buffer: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 10_000
    convlog_redact_digits: bool = True


class GatewaySettings(ConvlogSettings, frozen=True, kw_only=True):
    """`python -m gateway`: the WebSocket edge and its limits."""

    env: Literal["development", "production"] = "development"
    http_port: Port = 8080
    # authentication and resume (docs/protocol.md)
    auth_secret: str | None = None
    auth_audience: str | None = None
    auth_issuer: str | None = None
    auth_leeway_s: Annotated[float, msgspec.Meta(ge=0, le=300)] = 10.0
    allow_query_credentials: bool = False
    resume_secret: str | None = None
    resume_token_ttl_s: Positive | None = None
    allowed_origins: tuple[str, ...] = ()
    # limits per shopper (the JWT subject, or the client address when auth is off)
    client_ip_header: str | None = None
    max_sessions_per_shopper: Annotated[int, msgspec.Meta(ge=0, le=100)] = 5  # 0: no cap (load tests)
    # a crashed gateway's sessions stop counting against their shoppers this long after its last refresh
    shopper_slot_ttl_s: Annotated[float, msgspec.Meta(ge=1, le=3600)] = 30.0
    turns_per_minute_session: Positive = 20.0
    turns_per_minute_shopper: Positive = 60.0
    max_text_chars: Annotated[int, msgspec.Meta(ge=1, le=2000)] = 500
    # limits per session
    max_message_bytes: Annotated[int, msgspec.Meta(ge=1024)] = 64 * 1024
    pre_ready_audio_ms: Annotated[int, msgspec.Meta(ge=0)] = 2000
    max_sessions: Annotated[int, msgspec.Meta(ge=1)] = 500
    message_rate: Positive = 200.0
    audio_rate_factor: Annotated[float, msgspec.Meta(ge=1)] = 4.0
    idle_timeout_s: Positive = 60.0
    max_session_s: Positive = 3600.0
    send_queue_size: Annotated[int, msgspec.Meta(ge=8)] = 512
    send_timeout_s: Positive = 5.0
    socket_send_buffer: Annotated[int, msgspec.Meta(ge=16384)] = 128 * 1024
    ws_compression: bool = False
    socket_close_timeout_s: Positive = 2.0
    session_start_timeout_s: Positive = 5.0
    turn_answer_timeout_s: Positive = 15.0  # a typed request no event answers by then is reported failed
    # phone calls (Twilio Media Streams, docs/telephony.md)
    phone_enabled: bool = True
    twilio_auth_token: str | None = None
    public_url: Annotated[str, msgspec.Meta(pattern=r"^https?://[^/?#]+(/[^?#]*)?$")] | None = None
    phone_language: Annotated[str, msgspec.Meta(pattern=LANGUAGE_TAG)] = "en-US"
    dtmf_timeout_s: Positive = 3.0
    phone_lead_ms: Annotated[int, msgspec.Meta(ge=20, le=1000)] = 60

    def __post_init__(self) -> None:
        if self.twilio_auth_token is not None and self.public_url is None:
            raise ValueError("VOICECHAT_TWILIO_AUTH_TOKEN needs VOICECHAT_PUBLIC_URL (the URL Twilio signs)")
        if self.socket_close_timeout_s > self.drain_grace_s > 0:
            raise ValueError("VOICECHAT_SOCKET_CLOSE_TIMEOUT_S must not exceed VOICECHAT_DRAIN_GRACE_S")

    @property
    def resume_ttl_s(self) -> float:
        """How long a resume token is valid: by default the resume window (a worker's idle timeout)."""
        return self.resume_token_ttl_s or self.session_idle_timeout_s


MIN_PRODUCTION_SECRET = 32


def production_problems(settings: GatewaySettings) -> list[str]:
    """What stops the gateway (the edge) from starting under VOICECHAT_ENV=production; empty otherwise."""
    if settings.env != "production":
        return []
    problems = []
    if settings.auth_secret is None or len(settings.auth_secret) < MIN_PRODUCTION_SECRET:
        problems.append(f"VOICECHAT_ENV=production needs VOICECHAT_AUTH_SECRET ({MIN_PRODUCTION_SECRET}+ characters)")
    if not settings.allowed_origins:
        problems.append("VOICECHAT_ENV=production needs VOICECHAT_ALLOWED_ORIGINS (the origins of your web apps)")
    if settings.allow_query_credentials:
        problems.append("VOICECHAT_ENV=production refuses VOICECHAT_ALLOW_QUERY_CREDENTIALS (URLs reach access logs)")
    if settings.phone_enabled and settings.twilio_auth_token is None:
        problems.append(
            "VOICECHAT_ENV=production needs VOICECHAT_TWILIO_AUTH_TOKEN for the phone edge (unsigned streams would be "
            "accepted), or VOICECHAT_PHONE_ENABLED=false"
        )
    return problems


class VadSettings(SessionPlaneSettings, frozen=True, kw_only=True):
    """`python -m vad_worker`: voice activity detection (webrtcvad or Silero, docs/benchmarks.md) and its smoothing."""

    vad_engine: Literal["webrtc", "silero"] = "webrtc"
    vad_silero_threshold: Annotated[float, msgspec.Meta(gt=0, lt=1)] = 0.7
    vad_silero_start_ms: Annotated[int, msgspec.Meta(ge=10)] = 64
    vad_batch_wait_ms: Annotated[int, msgspec.Meta(ge=0, le=30)] = 5
    vad_batch_max: Annotated[int, msgspec.Meta(ge=1, le=4096)] = 256
    vad_aggressiveness: Annotated[int, msgspec.Meta(ge=0, le=3)] = 3
    vad_frame_ms: Literal[10, 20, 30] = 20
    vad_start_ms: Annotated[int, msgspec.Meta(ge=10)] = 100
    vad_start_window_ms: Annotated[int, msgspec.Meta(ge=10)] = 160
    vad_end_ms: Annotated[int, msgspec.Meta(ge=20)] = 500
    turn_audio_max_s: Positive = 70.0
    # turn audio per message: 100 ms, the chunk Dialogflow recommends and the dialog worker streams to it
    turn_audio_chunk_ms: Annotated[int, msgspec.Meta(ge=20, le=200, multiple_of=20)] = 100

    def __post_init__(self) -> None:
        if self.vad_start_ms > self.vad_start_window_ms:
            raise ValueError("VOICECHAT_VAD_START_MS must not exceed VOICECHAT_VAD_START_WINDOW_MS")
        if self.vad_silero_start_ms > self.vad_start_window_ms:
            raise ValueError("VOICECHAT_VAD_SILERO_START_MS must not exceed VOICECHAT_VAD_START_WINDOW_MS")


class DialogSettings(ConvlogSettings, frozen=True, kw_only=True):
    """`python -m dialog_worker`: Dialogflow CX (Google's or the local agent), turns, barge-in, tool calls."""

    dialogflow_agent: str | None = None
    dialogflow_endpoint: str | None = None
    dialogflow_environment: str | None = None
    local_cx_host: str = LOCAL_CX_HOST
    local_cx_port: Port = LOCAL_CX_PORT
    barge_in_guard_s: Annotated[float, msgspec.Meta(ge=0)] = 0.25
    barge_in_min_speech_ms: Annotated[int, msgspec.Meta(ge=0, le=10000)] = 600
    barge_in_resume_timeout_ms: Annotated[int, msgspec.Meta(ge=100, le=30000)] = 1500
    output_sample_rate: Literal[8000, 16000, 24000, 48000] = 16000
    max_turn_speech_s: Positive = 60.0
    tool_timeout_s: Positive = 3.0
    # how long a turn that finds the agent unavailable at its very start keeps retrying (dialog_worker/agent_errors.py)
    dialog_start_retry_s: Annotated[float, msgspec.Meta(ge=0, le=30)] = 3.0
    # audio of a turn waiting for the agent to take it (during start retries); more fails the turn (cx_stream.py)
    turn_audio_queue_s: Annotated[float, msgspec.Meta(gt=0, le=120)] = 10.0

    def __post_init__(self) -> None:
        if self.turn_audio_queue_s <= self.dialog_start_retry_s:
            raise ValueError("VOICECHAT_TURN_AUDIO_QUEUE_S must exceed VOICECHAT_DIALOG_START_RETRY_S")


class ToolsSettings(CommonSettings, frozen=True, kw_only=True):
    """`python -m tools_worker`: the product catalog or a REST products API."""

    catalog: str = DEFAULT_CATALOG
    products_api: str | None = None
    products_api_timeout_s: Positive = 2.0
    products_api_retries: Annotated[int, msgspec.Meta(ge=0, le=5)] = 2
    products_cache_ttl_s: Annotated[float, msgspec.Meta(ge=0)] = 60.0


class AgentSettings(CommonSettings, frozen=True, kw_only=True):
    """`python -m local_agent`: the offline CX-compatible agent (docs/local_agent.md)."""

    catalog: str = DEFAULT_CATALOG
    local_cx_host: str = LOCAL_CX_HOST
    local_cx_port: Port = LOCAL_CX_PORT
    local_cx_scripted: bool = False
    # where the agent keeps its sessions across restarts (local_agent/sessions.py)
    run_dir: str = "run"
    # recognition: engine, model directory (unset = the packaged tiny.en), pool size (0 = cores), admission wait
    local_cx_asr: Literal["whisper", "pocketsphinx"] = "whisper"
    local_cx_whisper_model: str | None = None
    local_cx_asr_workers: Annotated[int, msgspec.Meta(ge=0, le=64)] = 0
    local_cx_asr_wait_s: Annotated[float, msgspec.Meta(ge=0, le=60)] = 2.0


ALL_SETTINGS: tuple[type[CommonSettings], ...] = (
    GatewaySettings,
    VadSettings,
    DialogSettings,
    ToolsSettings,
    AgentSettings,
)
S = TypeVar("S", bound=CommonSettings)


class SettingsError(ValueError):
    """Raised with a readable message naming the offending variable."""


def _parse(environ: Mapping[str, str], kind: type[CommonSettings]) -> dict[str, object]:
    raw: dict[str, object] = {}
    fields = set(kind.__struct_fields__)
    for key, value in environ.items():
        if not key.startswith(ENV_PREFIX):
            continue
        name = key[len(ENV_PREFIX) :].lower()
        if name not in fields or value == "":
            continue
        if name == "allowed_origins":
            raw[name] = [item.strip() for item in value.split(",") if item.strip()]
        elif name == "log_level":
            raw[name] = value.upper()
        else:
            raw[name] = value
    return raw


def load_settings(kind: type[S], environ: Mapping[str, str] | None = None) -> S:
    """Read `kind`'s settings from the environment; raise SettingsError naming the bad variable."""
    raw = _parse(os.environ if environ is None else environ, kind)
    try:
        return msgspec.convert(raw, kind, strict=False)
    except (msgspec.ValidationError, ValueError) as exc:
        message = re.sub(r"\$\.(\w+)", lambda m: ENV_PREFIX + m.group(1).upper(), str(exc))
        raise SettingsError(f"invalid configuration: {message}") from exc
