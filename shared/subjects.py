"""Every NATS subject string of the system is built here, and nowhere else.

Session-scoped subjects carry the session id as one token; ids are validated so that a client can never
inject a dot or a wildcard into a subject.
"""

import re
from typing import Literal

PREFIX = "voicechat"
WorkerKind = Literal["vad", "dialog"]
WORKER_KINDS: tuple[WorkerKind, ...] = ("vad", "dialog")

_SESSION_ID = re.compile(r"[0-9a-f]{32}")

# The tools service (nats.micro) lives under this group; endpoints are `<group>.<endpoint>`.
TOOLS_SERVICE = "tools"
TOOLS_GROUP = f"{PREFIX}.tools"
# The conversation log (docs/conversation_log.md): one JetStream stream, one subject per session.
CONVLOG_STREAM = "VOICECHAT_CONVLOG"
CONVLOG_ALL = f"{PREFIX}.convlog.*"
# JetStream KV buckets (their keys are subjects `$KV.<bucket>.<key>`): session records, one key per live
# worker that the server expires when the worker stops refreshing it, the shoppers' session slots and the ended
# sessions (gateway/shopper_kv.py: keys are digests, never a subject, address or session id).
SESSIONS_BUCKET = "voicechat_sessions"
WORKERS_BUCKET = "voicechat_workers"
SHOPPERS_BUCKET = "voicechat_shoppers"
ENDED_BUCKET = "voicechat_ended"


def is_session_id(value: str) -> bool:
    return _SESSION_ID.fullmatch(value) is not None


def _session(session_id: str) -> str:
    if not is_session_id(session_id):
        raise ValueError("invalid session id for a subject")
    return f"{PREFIX}.session.{session_id}"


def all_of_session(session_id: str) -> str:
    """Every subject of a session, in the order each publisher sent on them (a watcher's view: tests, debugging)."""
    return f"{_session(session_id)}.>"


def claim(kind: WorkerKind) -> str:
    """Queue-group subject where a free worker of `kind` claims a new session."""
    return f"{PREFIX}.claim.{kind}"


def claim_queue(kind: WorkerKind) -> str:
    return f"{kind}-claim"


def session_claim(session_id: str, kind: WorkerKind) -> str:
    """Subject the current owner of a session answers, so a resumed session keeps its worker."""
    return f"{_session(session_id)}.claim.{kind}"


def audio(session_id: str) -> str:
    """16 kHz mono LINEAR16 frames with sequence numbers, binary."""
    return f"{_session(session_id)}.audio"


def control(session_id: str) -> str:
    """Control messages (barge-in, stop, text, end): never queued behind audio."""
    return f"{_session(session_id)}.control"


def vad(session_id: str) -> str:
    """Raw voice-activity events from the VAD owner to the dialog owner."""
    return f"{_session(session_id)}.vad"


def turn_audio(session_id: str, utterance: int) -> str:
    """A turn's audio frames (pre-roll first), forwarded by the VAD owner to the dialog owner from a speech start
    until the dialog closes it (`VOICECHAT_TURN_AUDIO`); the last token numbers the utterance (docs/audio_path.md)."""
    return f"{_session(session_id)}.turn_audio.{utterance}"


def all_turn_audio(session_id: str) -> str:
    """What a dialog owner subscribes to for a session's turn audio: every utterance."""
    return f"{_session(session_id)}.turn_audio.*"


def turn_audio_closed(session_id: str) -> str:
    """The dialog owner tells the VAD owner that no stream needs an utterance's audio any more."""
    return f"{_session(session_id)}.turn_audio_closed"


def events(session_id: str, epoch: int) -> str:
    """Client-facing events (protocol v1 JSON) that the gateway relays to the socket; the last token is the dialog
    epoch they were sent under (shared/epochs.py), so the gateway judges them without decoding more."""
    return f"{_session(session_id)}.events.{epoch}"


def all_events(session_id: str) -> str:
    """What a gateway subscribes to for a session: its events under any epoch."""
    return f"{_session(session_id)}.events.*"


def _number_token(subject: str) -> int:
    """The last token of a subject as a number (0 when it is not one)."""
    token = subject.rpartition(".")[2]
    return int(token) if token.isdigit() else 0


def epoch_of_event(subject: str) -> int:
    """The epoch token of an events subject (0 when it is not a number)."""
    return _number_token(subject)


def utterance_of(subject: str) -> int:
    """The utterance token of a turn audio subject (0 when it is not a number)."""
    return _number_token(subject)


def takeover(session_id: str) -> str:
    """A socket that took the session over says so here: the socket that held it is told `session_replaced`."""
    return f"{_session(session_id)}.takeover"


def ping(kind: str) -> str:
    """Readiness probe: any worker of `kind` answers (queue group)."""
    return f"{PREFIX}.ping.{kind}"


def link_probe(instance: str) -> str:
    """A process's messages to itself, through the server: is its link to NATS carrying messages now?"""
    return f"{PREFIX}.probe.{instance}"


def tools_endpoint(name: str) -> str:
    return f"{TOOLS_GROUP}.{name}"


def convlog(session_id: str) -> str:
    """The conversation log records of one session (read back and erased by this subject)."""
    if not _SESSION_ID.match(session_id):
        raise ValueError("invalid session id for a subject")
    return f"{PREFIX}.convlog.{session_id}"
