"""The session records' KV bucket (file storage): read a record, compare-and-set it, delete it.

Decisions about what to write are shared/ownership.py's; this adapter only talks to JetStream. A record outlives
the longest session plus the resume window (`VOICECHAT_MAX_SESSION_S` + `VOICECHAT_SESSION_IDLE_TIMEOUT_S`).
"""

import msgspec
from nats.js import JetStreamContext
from nats.js.errors import BadRequestError, KeyDeletedError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from shared import subjects
from shared.kv import bucket_config, open_bucket
from shared.logs import get_logger
from shared.session_record import SessionRecord, record_decoder, record_encoder
from shared.settings import GatewaySettings

log = get_logger(__name__)


class SessionStore:
    def __init__(self, kv: KeyValue) -> None:
        self.kv = kv

    @classmethod
    async def open(cls, js: JetStreamContext, settings: GatewaySettings) -> "SessionStore":
        ttl = settings.max_session_s + settings.session_idle_timeout_s
        return cls(await open_bucket(js, bucket_config(subjects.SESSIONS_BUCKET, settings.kv_replicas, ttl)))

    async def get(self, session_id: str) -> tuple[SessionRecord | None, int]:
        """The record and its revision; (None, 0) when there is none. An unreadable record is reported with its
        revision, so the next compare-and-set replaces it."""
        try:
            entry = await self.kv.get(session_id)
        except (KeyNotFoundError, KeyDeletedError):
            return None, 0
        revision = entry.revision or 0
        try:
            return record_decoder.decode(entry.value or b""), revision
        except msgspec.DecodeError:
            log.warning("session_record_invalid")
            return None, revision

    async def write(self, record: SessionRecord, revision: int) -> int | None:
        """Compare-and-set on `revision` (0: create); the new revision, or None when the record changed meanwhile."""
        payload = record_encoder.encode(record)
        try:
            if revision == 0:
                return await self.kv.create(record.session_id, payload)
            return await self.kv.update(record.session_id, payload, last=revision)
        except KeyWrongLastSequenceError:
            return None

    async def delete(self, session_id: str, revision: int) -> bool:
        """Delete the record if it is still at `revision`; False when it changed meanwhile."""
        try:
            return await self.kv.delete(session_id, last=revision)
        except BadRequestError:  # wrong last sequence (nats-py does not map it for deletes)
            return False
