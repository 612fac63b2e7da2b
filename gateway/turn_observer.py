"""The gateway's part of a turn's record: its stages (`gateway_in`, `gateway_out`), its trace spans (`gateway
receive`, `gateway send`) and the session's start and end in the conversation log.

docs/observability.md and docs/conversation_log.md. The connection calls in at the few points that matter (a
message read and published, an event relayed, the session started and closed); nothing here runs per audio frame
beyond one comparison.
"""

import time
import uuid
from collections.abc import Callable, Mapping

import msgspec
from opentelemetry.context import Context
from opentelemetry.trace import Span

from shared import stages, tracing
from shared.bus import EventPeek
from shared.convlog.records import SessionEnded, SessionStarted
from shared.convlog.writer import LogWriter


class TurnObserver:
    """One per connection."""

    __slots__ = ("_audio_turn", "_hearing", "_started", "_writer", "connection", "session_id")

    def __init__(self, writer: LogWriter | None) -> None:
        self._writer = writer
        self.connection = uuid.uuid4().hex[:12]
        self.session_id = ""
        self._started = False
        self._audio_turn: int | None = None  # the turn whose first answer audio went out
        self._hearing: tuple[int, int, Context] | None = None  # turn, start ns, trace context of speech under way

    def session_started(
        self, session_id: str, language: str, sample_rate: int, resumed: bool, subject: str | None
    ) -> None:
        self.session_id, self._started = session_id, True
        if self._writer is not None:
            record = SessionStarted(
                session_id=session_id,
                at=time.time(),
                connection=self.connection,
                language=language,
                sample_rate=sample_rate,
                resumed=resumed,
                subject=subject,
            )
            self._writer.write(record)

    def session_closed(self, ended: bool) -> None:
        """Only a session that started has an end on record."""
        if self._writer is not None and self._started:
            end = SessionEnded(session_id=self.session_id, at=time.time(), connection=self.connection)
            self._writer.write(msgspec.structs.replace(end, reason="ended") if ended else end)

    @staticmethod
    def published(read_at: float, seq: int | None = None) -> None:
        """A client message read at `read_at` (time.monotonic) is on NATS: audio frames are timed one in 50."""
        if seq is None or seq % stages.GATEWAY_IN_SAMPLE == 0:
            stages.observe("gateway_in", time.monotonic() - read_at)

    @staticmethod
    def typed_turn() -> Span | None:
        """The root span of a turn the client typed (None when tracing is off); its context goes with the text."""
        return tracing.start("gateway receive", None, input="text")

    def relayed(self, peek: EventPeek, headers: Mapping[str, str] | None) -> Callable[[], None] | None:
        """An event off NATS: returns what to call once it is on the socket, for the first answer audio of a turn."""
        kind = peek.type
        if kind == "audio_response":
            if peek.turn_id == self._audio_turn:
                return None
            self._audio_turn = peek.turn_id
            return self._first_audio(tracing.extract(headers))
        if kind in ("speech_started", "speech_ended") and tracing.enabled():
            self._speech(kind, peek.turn_id or 0, tracing.extract(headers))
        return None

    @staticmethod
    def _first_audio(parent: Context | None) -> Callable[[], None]:
        received, span = time.monotonic(), tracing.start("gateway send", parent) if parent is not None else None

        def sent() -> None:
            stages.observe("gateway_out", time.monotonic() - received)
            tracing.end(span)

        return sent

    def _speech(self, kind: str, turn_id: int, parent: Context | None) -> None:
        """`gateway receive` of a spoken turn: the utterance's audio, `speech_started` to `speech_ended`."""
        if kind == "speech_started":
            self._hearing = (turn_id, tracing.now_ns(), parent) if parent is not None else None
            return
        hearing, self._hearing = self._hearing, None
        if hearing is not None and hearing[0] == turn_id:
            tracing.record("gateway receive", hearing[2], hearing[1], input="speech")
