"""One client WebSocket: the socket loop. It reads and validates (gateway/inbound.py), enforces limits
(gateway/limits.py), feeds the session machine (gateway/session.py) and the turn tracker (gateway/turns.py), and
carries out their actions; worker events are relayed through the outbox (gateway/outbox.py).

Ownership (gateway/owners.py): what it publishes is stamped with the session's epochs, and events of an older
dialog epoch are dropped (but the turn a draining owner still finishes). One socket per session: a socket that
takes the session over (here or on another gateway) makes this one send `session_replaced` and close 4000. A
publish that fails (NATS away, its buffer full) drops that message and is counted; the socket stays open."""

import asyncio
import functools
import time
from dataclasses import dataclass

import msgspec
import msgspec.structs
import structlog
from aiohttp import WSCloseCode, WSMsgType, web
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from prometheus_client import Counter

from gateway.audio_out import binary_frame
from gateway.handover import After
from gateway.inbound import ClientError, audio_of, binary_audio, parse_text
from gateway.limits import ClientLimits, TurnBudget
from gateway.outbox import Outbox
from gateway.owners import OwnerTracker, SessionOwners
from gateway.session import Action, GatewaySession, PublishAudio, PublishControl, Rejected, Reply
from gateway.tokens import SessionTokens
from gateway.turn_observer import TurnObserver
from gateway.turns import TurnTracker
from shared import bus, subjects, tracing
from shared.audio import StreamResampler, duration_ms
from shared.convlog.writer import LogWriter
from shared.logs import get_logger
from shared.loops import ErrorBurst
from shared.metrics import ERRORS, PUBLISHES_DROPPED, RESENT_REQUESTS, STALE_EPOCH, WS_MESSAGES
from shared.protocol import (
    AudioChunk,
    AudioOut,
    BargeIn,
    EndSession,
    Error,
    ErrorCode,
    Interrupted,
    Ping,
    Pong,
    ResumeToken,
    ServerEvent,
    SessionStart,
    StartSpeaking,
    StopSpeaking,
    TextInput,
    encoder,
    ends_turn,
    event_type,
)
from shared.publish_batch import PublishBatch
from shared.settings import GatewaySettings
from shared.subjects import WorkerKind

log = get_logger(__name__)

SESSION_REPLACED = 4000  # close code of a socket whose session another socket took over (docs/protocol.md)
RETRY_AFTER_MS = 2000  # what a session that could not start is told to wait before it tries again
_publishes = ErrorBurst("gateway_publish")
_stale_events = STALE_EPOCH.labels("dialog")
# the shared publish batch of the gateway's audio path (shared/publish_batch.py), set by gateway/app.py
PUBLISH_BATCH_KEY = web.AppKey("publish_batch", PublishBatch)


def _dropped(kind: str, exc: BaseException) -> None:
    """A publish NATS could not take now (the socket stays open): counted, logged per burst."""
    ERRORS.labels("gateway", "publish_failed").inc()
    PUBLISHES_DROPPED.labels(kind).inc()
    _publishes.failed(exc)


_DROPPED = {kind: functools.partial(_dropped, kind) for kind in ("audio", "control")}

_CONTROLS: dict[type, bus.Control] = {
    BargeIn: bus.ControlBargeIn(),
    StartSpeaking: bus.ControlStartSpeaking(),
    StopSpeaking: bus.ControlStopSpeaking(),
}


def _not_started(waiting: WorkerKind | None) -> Error:
    """Why a session could not start (fatal, close 1013, retryable: docs/protocol.md): the session store (None)
    or a worker kind did not answer within VOICECHAT_SESSION_START_TIMEOUT_S, or no worker of a kind took it."""
    if waiting is None:
        return Error(code="overloaded", message="session store unavailable", fatal=True, retry_after_ms=RETRY_AFTER_MS)
    code: ErrorCode = "dialog_unavailable" if waiting == "dialog" else "overloaded"
    message = f"no {waiting} worker could take the session"
    return Error(code=code, message=message, fatal=True, retry_after_ms=RETRY_AFTER_MS)


@functools.cache
def _counted(direction: str, kind: str) -> Counter:
    """The message counter's child for one label pair, looked up once (labels() takes a lock per call)."""
    return WS_MESSAGES.labels(direction, kind)


@dataclass(frozen=True, slots=True)
class Opening:
    """What a connection is opened for (from the WebSocket's query)."""

    session_id: str
    sample_rate: int
    language: str
    resumed: bool
    audio_out: AudioOut = "json"
    subject: str | None = None  # the JWT subject that opens it (auth on): the owner of its conversation log
    resume_epoch: int = 0  # the dialog epoch of the resume token it was opened with (gateway/tokens.py)


class Connection:
    def __init__(
        self,
        ws: web.WebSocketResponse,
        request: web.Request,
        nc: NATS,
        tracker: OwnerTracker,
        settings: GatewaySettings,
        tokens: SessionTokens,
        budget: TurnBudget,
        opening: Opening,
        convlog: LogWriter | None = None,
    ) -> None:
        self.ws = ws
        self.nc = nc
        self.batch = request.app[PUBLISH_BATCH_KEY]
        self.tracker = tracker
        self.settings = settings
        self.tokens = tokens
        self.budget = budget
        self.opening = opening
        self.owners: SessionOwners | None = None
        self.turns = TurnTracker()
        self.session = GatewaySession.holding(settings.pre_ready_audio_ms)
        self.resampler = StreamResampler(opening.sample_rate)
        self.limits = ClientLimits(settings.message_rate, settings.audio_rate_factor, time.monotonic())
        self.outbox = Outbox(ws, request, settings.send_queue_size, settings.send_timeout_s)
        self.ended = False
        self._last_in = time.monotonic()
        self._audio_subject = subjects.audio(opening.session_id)
        self._control_subject = subjects.control(opening.session_id)
        self._binary_audio = opening.audio_out == "binary"
        self._start_by = 0.0  # the loop time by which the client gets session_start or an error
        self.observer = TurnObserver(convlog)

    async def run(self) -> None:
        session_id = self.opening.session_id
        self._start_by = asyncio.get_running_loop().time() + self.settings.session_start_timeout_s
        try:
            opening = self.opening
            async with asyncio.timeout_at(self._start_by):
                owners = await self.tracker.open(
                    session_id, opening.language, opening.subject, opening.resumed, opening.resume_epoch
                )
        except Exception as exc:  # noqa: BLE001 - the session store is unreachable (or slow): the client retries
            log.warning("session_store_unavailable", error=f"{type(exc).__name__}: {exc}")
            await self._fail(_not_started(None), 1013)
            return
        if owners is None:
            error = Error(code="session_not_found", message="unknown session or bad resume_token", fatal=True)
            await self._fail(error, WSCloseCode.POLICY_VIOLATION)
            return
        self.owners, self.turns = owners, owners.turns
        self.session = GatewaySession(self.session.max_held_frames, next_seq=owners.next_seq)
        relay = await self.nc.subscribe(subjects.all_events(session_id), cb=self._relay)
        takeover = await self.nc.subscribe(subjects.takeover(session_id), cb=self._on_takeover)
        helpers = [
            asyncio.create_task(self._claim()),
            asyncio.create_task(self._report_lost_turns()),
            asyncio.create_task(self._close_when_replaced()),
            asyncio.create_task(self._hold_while_moving()),
            asyncio.create_task(self._resend_after_link_drop()),
        ]
        try:
            with structlog.contextvars.bound_contextvars(session_id=session_id):
                log.info("session_open", sample_rate=self.opening.sample_rate, resumed=self.opening.resumed)
                await asyncio.wait_for(self._read(), self.settings.max_session_s)
        except TimeoutError:
            await self._fail(Error(code="rate_limited", message="maximum session length reached", fatal=True), 1008)
        finally:
            for task in helpers:
                task.cancel()
            outcomes = await asyncio.gather(*helpers, return_exceptions=True)
            await self._close(relay, takeover)
        for outcome in outcomes:
            if isinstance(outcome, Exception):
                raise outcome  # a helper's failure is not swallowed (cancellation is not an Exception)

    async def _claim(self) -> None:
        owners = self._owners()
        try:
            async with asyncio.timeout_at(self._start_by):
                await owners.ready.wait()
        except TimeoutError:
            waiting = owners.machine.waiting_for()
            log.warning("session_start_timed_out", waiting_for=waiting or "session_store")
            await self._fail(_not_started(waiting), 1013)
            return
        if owners.gave_up is not None:
            await self._fail(_not_started(owners.gave_up), 1013)
            return
        await self._publish(subjects.takeover(owners.session_id), owners.machine.record.connection.encode())
        await self._apply(self.session.claimed())
        opening = self.opening
        start = SessionStart(
            session_id=opening.session_id,
            resume_token=self._fresh_token(),
            resume_expires_in_s=int(self.tokens.ttl_s),
            sample_rate=opening.sample_rate,
            language=opening.language,
            resumed=opening.resumed,
            audio_out=opening.audio_out,
        )
        self._send(start)
        self.observer.session_started(
            opening.session_id, opening.language, opening.sample_rate, opening.resumed, opening.subject
        )
        await self._reissue_tokens()

    async def _reissue_tokens(self) -> None:
        """A fresh resume token at half the lifetime of the last one, for as long as the socket is open."""
        while True:
            await asyncio.sleep(self.tokens.ttl_s / 2)
            self._send(ResumeToken(resume_token=self._fresh_token(), resume_expires_in_s=int(self.tokens.ttl_s)))

    def _fresh_token(self) -> str:
        """A resume token under the session's current dialog ownership epoch (from its record)."""
        self.tokens.epoch = self._owners().epoch("dialog")
        return self.tokens.fresh(time.time())

    def _owners(self) -> SessionOwners:
        assert self.owners is not None, "the session is open"
        return self.owners

    async def _on_takeover(self, msg: Msg) -> None:
        owners = self._owners()
        if msg.data != owners.machine.record.connection.encode():
            owners.replaced.set()

    async def _hold_while_moving(self) -> None:
        """While an owner moves, what the client sends is held, then released to the new owner; a typed request
        its crashed dialog owner never answered is sent to the new one (an owner that only stalled and took the
        session back drops the copy of a request it has, dialog_worker/turns.py)."""
        owners = self._owners()
        while True:
            await owners.moving.wait()
            await self._apply(self.session.moving())
            await owners.settled.wait()
            owners.settled.clear()
            await self._apply(self.session.claimed())
            await self._resend("owner_crashed")

    async def _resend_after_link_drop(self) -> None:
        """A typed request no event answered when the NATS link dropped is sent again once it is back; while an
        owner moves, the move sends it to the new owner."""
        owners = self._owners()
        while True:
            await owners.resend.wait()
            owners.resend.clear()
            if not owners.moving.is_set():
                await self._resend("link_dropped")

    async def _resend(self, why: str) -> None:
        text = self.turns.take_resend(self._answer_due(time.monotonic()))
        if text is not None:
            RESENT_REQUESTS.labels(why).inc()
            await self._apply(self.session.control(self._typed(text)))

    async def _close_when_replaced(self) -> None:
        await self._owners().replaced.wait()
        error = Error(code="session_replaced", message="this session was taken over by another connection", fatal=True)
        await self._fail(error, SESSION_REPLACED)

    async def _report_lost_turns(self) -> None:
        """The turn under way lost its worker or its events (NATS outage): tell the client to repeat it, drop
        whatever that turn might still say, and stop it if it still runs somewhere."""
        lost = self._owners().turn_lost
        while True:
            await lost.wait()
            lost.clear()
            turn = self.turns.lose()
            if turn is not None:
                await self._apply(self.session.turn_lost(turn))

    async def _read(self) -> None:
        watchdog = asyncio.create_task(self._close_when_idle())
        try:
            await self._read_messages()
        finally:
            watchdog.cancel()

    async def _close_when_idle(self) -> None:
        """One timer per connection (not one per message): close a socket that has sent nothing for too long."""
        idle = self.settings.idle_timeout_s
        while True:
            await asyncio.sleep(max(0.0, self._last_in + idle - time.monotonic()))
            if time.monotonic() - self._last_in >= idle:
                await self.ws.close(code=WSCloseCode.OK, message=b"idle timeout")
                return

    async def _read_messages(self) -> None:
        while True:
            msg = await self.ws.receive()
            self._last_in = time.monotonic()
            if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                return
            try:
                await self._on_message(msg.type, msg.data)
            except ClientError as exc:
                ERRORS.labels("gateway", exc.code).inc()
                self._send(Error(code=exc.code, message=exc.message, fatal=False))
            if self.ended or self.outbox.cut_off:
                return

    async def _on_message(self, kind: WSMsgType, data: str | bytes) -> None:
        now = self._last_in
        if not self.limits.allow_message(now):
            self._rate_limited(now, "more than VOICECHAT_MESSAGE_RATE messages a second; message dropped")
            return
        if kind is WSMsgType.BINARY and isinstance(data, bytes):
            _counted("in", "binary").inc()
            await self._audio(binary_audio(data), now)
        elif kind is WSMsgType.TEXT and isinstance(data, str):
            await self._on_text(data, now)

    async def _audio(self, pcm: bytes, now: float) -> None:
        if not self.limits.allow_audio(duration_ms(pcm, self.opening.sample_rate), now):
            self._rate_limited(now, "audio faster than 4x real time; audio dropped")
            return
        await self._apply(self.session.audio(self.resampler.push(pcm)), now)

    def _rate_limited(self, now: float, message: str) -> None:
        ERRORS.labels("gateway", "rate_limited").inc()
        if self.limits.should_warn(now):
            self._send(Error(code="rate_limited", message=message, fatal=False))

    async def _on_text(self, data: str, now: float) -> None:
        message = parse_text(data)
        _counted("in", type(message).__struct_config__.tag or "unknown").inc()
        if isinstance(message, TextInput | StartSpeaking) and (refusal := self._turn_refused(message, now)):
            self._send(refusal)
            return
        match message:
            case AudioChunk():
                await self._audio(audio_of(message), now)
            case Ping():
                self._send(Pong())
            case TextInput(text=text):
                self.turns.request(text, self._answer_due(now))
                span = TurnObserver.typed_turn()
                await self._apply(self.session.control(self._typed(text)), now, tracing.headers(span))
                tracing.end(span)
            case EndSession():
                self.ended = True
            case BargeIn() if self._interrupt_handover():
                pass
            case _:
                await self._apply(self.session.control(_CONTROLS[type(message)]), now)

    def _typed(self, text: str) -> bus.ControlText:
        """A typed request for the dialog owner, numbered as this gateway expects its turn (shared/bus.py)."""
        return bus.ControlText(text=text, turn_id=self.turns.next_turn_id)

    def _answer_due(self, now: float) -> float:
        """When a typed request sent now is overdue (VOICECHAT_TURN_ANSWER_TIMEOUT_S): no event of its turn came."""
        return now + self.settings.turn_answer_timeout_s

    def _turn_refused(self, message: TextInput | StartSpeaking, now: float) -> Error | None:
        """The per-session and per-shopper turn budget and the text_input length (gateway/limits.py)."""
        refusal = self.budget.refuse(message.text if isinstance(message, TextInput) else None, now)
        if refusal is not None:
            ERRORS.labels("gateway", refusal.code).inc()
        return refusal

    async def _apply(
        self, actions: list[Action], read_at: float | None = None, headers: dict[str, str] | None = None
    ) -> None:
        """Carry out the session's actions; `read_at` is when the client message that caused them was read
        (the `gateway_in` stage), `headers` go with a control message (a typed turn's trace context)."""
        owners = self.owners
        for action in actions:
            match action:
                case PublishAudio(seq=seq, pcm=pcm) if owners is not None:
                    owners.next_seq = seq + 1
                    frame = bus.pack_frame(seq, pcm, owners.epoch("vad"), owners.epoch("dialog"))
                    await self._publish(self._audio_subject, frame)
                    if read_at is not None:
                        TurnObserver.published(read_at, seq)
                case PublishControl(message=message) if owners is not None:
                    stamped = msgspec.structs.replace(message, epoch=owners.epoch("dialog"))
                    await self._publish(self._control_subject, bus.encoder.encode(stamped), headers)
                    if read_at is not None:
                        TurnObserver.published(read_at)
                case Reply(event=event):
                    self._send(event)
                case Rejected(phase=phase, input=given):
                    ERRORS.labels("gateway", "illegal_input").inc()
                    log.warning("session_input_rejected", phase=phase.value, input=given.value)

    async def _publish(self, subject: str, payload: bytes, headers: dict[str, str] | None = None) -> None:
        """Publish, or drop and count when NATS cannot take it now (the socket stays open). The socket loop never
        waits on a stalled server: once `VOICECHAT_NATS_PENDING_BYTES` wait to be written (nats-py would block
        each publish on a forced flush while the TCP connection is still up, and raise once it is down), a message
        is dropped here instead."""
        kind = "audio" if subject == self._audio_subject else "control"
        if self.nc.pending_data_size + self.batch.held_bytes + len(payload) > self.settings.nats_pending_bytes:
            _DROPPED[kind](BufferError("NATS pending buffer full"))
            return
        # a failure is counted and logged per burst; a turn cut by it is failed on reconnect
        await self.batch.publish(subject, payload, _DROPPED[kind], headers)

    async def _relay(self, msg: Msg) -> None:
        """Worker events are already protocol v1 JSON: read their type and turn, judge their epoch, then pass them
        through (response audio as a binary frame when the client asked for `audio_out=binary`)."""
        try:
            peek = bus.peek_decoder.decode(msg.data)
        except msgspec.DecodeError:
            log.warning("event_invalid")
            return
        epoch = subjects.epoch_of_event(msg.subject)
        if not self._current(epoch, peek.turn_id):
            return
        ends = ends_turn(peek.type, peek.code)
        await self._hand_over(epoch, peek, ends)
        if not self.turns.event(peek.turn_id, ends):
            return
        self._deliver(msg.data, peek, msg.headers)

    def _deliver(self, data: bytes, peek: bus.EventPeek, headers: dict[str, str] | None) -> None:
        """An event of the session for the client (the phone edge, gateway/twilio/call.py, translates instead)."""
        binary = self._binary_audio and peek.type == "audio_response"
        frame = binary_frame(data) if binary else data
        _counted("out", peek.type).inc()
        self.outbox.put(
            frame, WSMsgType.BINARY if binary else WSMsgType.TEXT, sent=self.observer.relayed(peek, headers)
        )

    def _current(self, epoch: int, turn_id: int | None) -> bool:
        """Whether an event of `epoch` may reach the client: the current dialog epoch unless it is fenced (its owner
        was judged crashed, or its claim missed: such a worker may wake and speak before the next epoch is
        recorded), or the turn a draining owner still finishes under the epoch before (gateway/handover.py)."""
        owners = self._owners()
        current = owners.epoch("dialog")
        if epoch == 0 or (epoch == current and epoch > owners.fenced_dialog_epoch):
            return True
        if epoch > current:
            self.tracker.newer_epoch(owners, "dialog", epoch)
            return False
        if owners.handover is not None and owners.handover.admits(epoch, turn_id):
            return True
        _stale_events.inc()
        return False

    def _interrupt_handover(self) -> bool:
        """A barge-in while a draining owner finishes its turn: that turn is interrupted here at once."""
        owners = self._owners()
        if owners.handover is None or self.turns.open_turn != owners.handover.turn:
            return False
        handed, owners.handover = owners.handover.turn, None
        if self.turns.lose() == handed:
            self._send(Interrupted(turn_id=handed))
        return True

    async def _hand_over(self, epoch: int, peek: bus.EventPeek, ends: bool) -> None:
        """What a relayed event does to the turn a draining owner finishes (gateway/handover.py): when the new
        owner's next turn speaks first, the handed-over turn is interrupted here, before anything of the newer one
        reaches the client; when the draining owner speaks in a turn of its own after the move, the new owner is
        told to number past it."""
        owners = self._owners()
        handover = owners.handover
        if handover is None or peek.turn_id is None:
            return
        handed = handover.turn
        after = handover.event(epoch, peek.turn_id, peek.type, ends)
        if after in (After.DONE, After.SUPERSEDED) or (after is After.TAKEN and ends):
            owners.handover = None
        if after is After.SUPERSEDED and self.turns.open_turn == handed and self.turns.lose() == handed:
            self._send(Interrupted(turn_id=handed))
        elif after is After.TAKEN:
            await self._apply(self.session.control(bus.ControlTurnTaken(turn_id=handed)))

    def _send(self, event: ServerEvent) -> None:
        _counted("out", event_type(event)).inc()
        self.outbox.put(encoder.encode(event))

    async def _fail(self, error: Error, close_code: int) -> None:
        ERRORS.labels("gateway", error.code).inc()
        self._send(error)
        await self.outbox.close()
        await self.ws.close(code=close_code, message=error.message.encode()[:120])

    async def _close(self, relay: Subscription, takeover: Subscription) -> None:
        session_id = self.opening.session_id
        owners = self._owners()
        self.observer.session_closed(self.ended)
        for sub in (relay, takeover):
            try:
                await sub.unsubscribe()
            except Exception as exc:  # noqa: BLE001 - the connection to NATS is gone: nothing to unsubscribe
                _publishes.failed(exc)
        replaced = owners.replaced.is_set()
        if not replaced:
            await self._apply(self.session.close(self.ended))
        self.tracker.close(owners, self.ended and not replaced)
        await self.outbox.close()
        if self.ended:
            await self.ws.close(code=WSCloseCode.OK, message=b"session ended")
        with structlog.contextvars.bound_contextvars(session_id=session_id):
            log.info("session_closed", ended=self.ended)
