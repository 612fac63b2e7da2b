"""Conversation log records: one tagged msgspec union, one record per fact (docs/conversation_log.md).

A session writes `session_started` when a socket opens it (again on each resume), one `turn` record when a turn is
over (answered, interrupted or failed), and `session_ended` when the socket closes. Each record names its own
JetStream message id (`msg_id`), so a retried publish is stored once. No audio is ever stored.
"""

from typing import Any, Literal

import msgspec

Outcome = Literal["answered", "interrupted", "failed"]
TurnInput = Literal["speech", "text"]
Interruption = Literal["speech", "barge_in", "text", "stop", "turn_lost"]


class ToolCall(msgspec.Struct, omit_defaults=True):
    """One tool the agent called in a turn and what it returned: product ids and total, or the error code."""

    tool: str
    arguments: dict[str, Any] = {}
    product_ids: list[int] = []
    total: int | None = None
    error: str | None = None


class Record(msgspec.Struct, tag_field="type", omit_defaults=True):
    """Base of every record: the session and the wall-clock time of the fact (Unix seconds)."""

    session_id: str
    at: float


class SessionStarted(Record, tag="session_started"):
    """A socket opened (or resumed) the session; `subject` is the JWT subject that owns it (auth on)."""

    connection: str
    language: str = "en-US"
    sample_rate: int = 16000
    resumed: bool = False
    subject: str | None = None

    def msg_id(self) -> str:
        return f"{self.session_id}:start:{self.connection}"


class TurnRecord(Record, tag="turn"):
    """One turn: what the user said or typed, what the agent understood and did, what it answered, how it ended."""

    turn_id: int
    turn_key: str  # unique per turn run: turn ids are per session, the key tells runs apart in message ids
    input: TurnInput
    outcome: Outcome
    transcript: str = ""
    intent: str | None = None
    confidence: float | None = None
    parameters: dict[str, Any] = {}
    tool_calls: list[ToolCall] = []
    answer: str = ""
    error_code: str | None = None
    interrupted_by: Interruption | None = None
    stages_ms: dict[str, float] = {}
    started_at: float | None = None

    def msg_id(self) -> str:
        return f"{self.session_id}:turn:{self.turn_id}:{self.turn_key}"


class SessionEnded(Record, tag="session_ended"):
    """The socket closed: `reason` is `ended` (the client said so) or `closed` (resumable until it times out)."""

    connection: str
    reason: Literal["ended", "closed"] = "closed"

    def msg_id(self) -> str:
        return f"{self.session_id}:end:{self.connection}"


AnyRecord = SessionStarted | TurnRecord | SessionEnded

decoder = msgspec.json.Decoder(AnyRecord)
encoder = msgspec.json.Encoder()
