"""Prometheus metrics of every service (names and meanings in docs/metrics.md) and the ops HTTP endpoint."""

from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

SESSIONS_ACTIVE = Gauge("voicechat_sessions_active", "Sessions open on this gateway")
WORKER_SESSIONS = Gauge("voicechat_worker_sessions", "Sessions owned by this worker", ["kind"])
WS_MESSAGES = Counter("voicechat_ws_messages_total", "WebSocket messages", ["direction", "type"])
ERRORS = Counter("voicechat_errors_total", "Errors by service and code", ["service", "code"])
VAD_FRAMES = Counter("voicechat_vad_frames_total", "Audio frames classified by the VAD")
TURN_AUDIO_FRAMES = Counter(
    "voicechat_turn_audio_frames_total", "Audio frames the VAD worker forwarded to the dialog worker as turn audio"
)
VAD_ILLEGAL_INPUTS = Counter(
    "voicechat_vad_illegal_inputs_total", "Frames the VAD smoother refused (audio time going back)", ["phase", "input"]
)
VAD_BATCH_STREAMS = Histogram(
    "voicechat_vad_batch_streams",
    "Sessions' windows per batched Silero model call",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
)
CLAIMS = Counter("voicechat_claims_total", "Session claims answered by workers", ["kind", "outcome"])
LOOP_ERRORS = Counter("voicechat_loop_errors_total", "Errors survived by a background loop", ["loop"])
STALE_EPOCH = Counter(
    "voicechat_stale_epoch_messages_total", "Bus messages dropped because they were sent under an older epoch", ["kind"]
)
PUBLISHES_DROPPED = Counter(
    "voicechat_publishes_dropped_total",
    "Session messages the gateway dropped because NATS could not take them (away, or its pending buffer full)",
    ["kind"],
)
LIVENESS_WORKERS = Gauge(
    "voicechat_liveness_workers",
    "Per-session workers whose liveness key is alive, as this gateway's watch sees them",
    ["kind", "state"],
)
OWNER_MOVES = Counter(
    "voicechat_owner_moves_total", "Session owners lost and re-claimed, by worker kind and why", ["kind", "reason"]
)
RESENT_REQUESTS = Counter(
    "voicechat_resent_requests_total",
    "Typed requests sent again before any event answered them: their dialog owner crashed (owner_crashed), or the"
    " gateway's NATS link dropped (link_dropped); a dialog worker that has the request drops the copy",
    ["why"],
)
UNANSWERED_REQUESTS = Counter(
    "voicechat_unanswered_requests_total",
    "Typed requests no event answered within VOICECHAT_TURN_ANSWER_TIMEOUT_S, reported to the client as turn_failed",
)
OWNERSHIP_WRITES = Counter("voicechat_ownership_writes_total", "Compare-and-set writes of session records", ["outcome"])
TURNS = Counter("voicechat_turns_total", "Turns by outcome", ["outcome"])
TURN_AUDIO_OVERFLOWS = Counter(
    "voicechat_turn_audio_overflows_total", "Turns failed because the agent did not take their audio in time"
)
TURN_LATENCY = Histogram(
    "voicechat_turn_latency_seconds", "End of user speech to first response audio", buckets=_LATENCY_BUCKETS
)
BARGE_IN_LATENCY = Histogram(
    "voicechat_barge_in_latency_seconds", "Barge-in received to interrupted sent", buckets=_LATENCY_BUCKETS
)
ANSWER_PAUSES = Counter("voicechat_answer_pauses_total", "Answers paused by speech heard over them (paused sent)")
ANSWER_RESUMES = Counter(
    "voicechat_answer_resumes_total", "Paused answers resumed: the speech was taken back as noise (resumed sent)"
)
TURN_INPUTS_REJECTED = Counter(
    "voicechat_turn_inputs_rejected_total",
    "Inputs the dialog worker's turn machine does not allow in its phase (dialog_worker/turns.py)",
    ["phase", "input"],
)
AGENT_PROCESSING = Histogram(
    "voicechat_agent_processing_seconds",
    "The agent's own processing time per response, when it reports it (the local agent does)",
    buckets=_LATENCY_BUCKETS,
)
DIALOGFLOW_REQUESTS = Counter("voicechat_dialogflow_requests_total", "Dialogflow CX requests", ["code"])
# The tools worker: requests it handled and its handling time (receipt to reply).
TOOL_REQUESTS = Counter(
    "voicechat_tool_requests_total", "Tool requests handled by the tools worker", ["tool", "outcome"]
)
TOOL_LATENCY = Histogram(
    "voicechat_tool_latency_seconds", "Tools worker handling time", ["tool"], buckets=_LATENCY_BUCKETS
)
# The dialog worker: tool calls it made and their round trip (request sent to reply, over NATS).
TOOL_CALLS = Counter("voicechat_tool_calls_total", "Tool calls made by the dialog worker", ["tool", "outcome"])
TOOL_CALL_LATENCY = Histogram(
    "voicechat_tool_call_seconds", "Tool call round trip seen by the dialog worker", ["tool"], buckets=_LATENCY_BUCKETS
)
LOCAL_STREAMS_ACTIVE = Gauge("voicechat_local_cx_streams_active", "Open StreamingDetectIntent calls of the local agent")
RECOGNITION_QUEUE = Gauge("voicechat_local_cx_recognition_queue", "Final recognition passes waiting for a worker")
RECOGNITION_SECONDS = Histogram(
    "voicechat_local_cx_recognition_seconds",
    "Time of one final recognition pass in the local agent's pool",
    buckets=_LATENCY_BUCKETS,
)
RECOGNITIONS = Counter(
    "voicechat_local_cx_recognitions_total", "Final recognition passes by engine and outcome", ["engine", "outcome"]
)
TURN_STAGE = Histogram(
    "voicechat_turn_stage_seconds",
    "One stage of a turn, end of speech to first audio out (stages in shared/stages.py)",
    ["stage"],
    buckets=_LATENCY_BUCKETS,
)
CONVLOG_RECORDS = Counter(
    "voicechat_convlog_records_total", "Conversation log records by outcome (written, dropped)", ["outcome"]
)
CONVLOG_BUFFERED = Gauge("voicechat_convlog_buffered", "Conversation log records waiting for JetStream")
# The gateway's phone edge (docs/telephony.md).
PHONE_CALLS_ACTIVE = Gauge("voicechat_phone_calls_active", "Phone calls (Twilio Media Streams) open on this gateway")
PHONE_CALLS = Counter(
    "voicechat_phone_calls_total", "Phone calls by how they ended (stop, hangup, idle, refused)", ["outcome"]
)
PHONE_CALL_SECONDS = Counter("voicechat_phone_call_seconds_total", "Length of phone calls, counted when they end")
PHONE_CLEAR_LATENCY = Histogram(
    "voicechat_phone_clear_latency_seconds",
    "Arrival of the caller's first speech frame over the bot to `clear` sent to Twilio",
    buckets=_LATENCY_BUCKETS,
)


async def metrics_handler(_: web.Request) -> web.Response:
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


def ops_app(ready: Callable[[], bool]) -> web.Application:
    """`/metrics`, `/healthz` and `/readyz` for a worker process."""

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        ok = ready()
        return web.json_response({"ready": ok}, status=200 if ok else 503)

    app = web.Application()
    app.router.add_get("/metrics", metrics_handler)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


async def start_ops_server(port: int, ready: Callable[[], bool]) -> web.AppRunner:
    """Serve the ops app on all interfaces (scraped by Prometheus); returns the runner to clean up."""
    runner = web.AppRunner(ops_app(ready), access_log=None, shutdown_timeout=1.0)  # a scrape takes milliseconds
    await runner.setup()
    await web.TCPSite(runner, "0.0.0.0", port).start()
    return runner
