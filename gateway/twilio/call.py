"""One phone call on `GET /ws/twilio` (docs/telephony.md): the app connection (gateway/connection.py) with a
Twilio edge. The socket loop, claims, limits and session machine are the app's; what differs is read and
written by the call's protocol table (gateway/twilio/line.py): Twilio's JSON in, mu-law audio paced out, marks,
`clear` on barge-in, the keypad, and an idle limit on speech rather than on messages (a quiet line still sends).
A call never resumes: however it ends, its session ends.
"""

import asyncio
import contextlib
import re
import time

import msgspec
import structlog
from aiohttp import WSCloseCode, WSMsgType, web
from nats.aio.client import Client as NATS
from nats.aio.subscription import Subscription

from gateway.connection import Connection, Opening, _counted
from gateway.limits import TurnBudget
from gateway.owners import OwnerTracker
from gateway.tokens import SessionTokens
from gateway.twilio import messages as twilio
from gateway.twilio.line import Action, CallerAudio, CallerText, ClearTimed, End, Fault, PhoneLine, Send
from gateway.twilio.twiml import CALLER_PARAM, LANGUAGE_PARAM
from shared import bus
from shared.audio import StreamResampler
from shared.logs import get_logger, session_ref
from shared.metrics import (
    ERRORS,
    PHONE_CALL_SECONDS,
    PHONE_CALLS,
    PHONE_CALLS_ACTIVE,
    PHONE_CLEAR_LATENCY,
)
from shared.protocol import ServerEvent, TextInput
from shared.settings import LANGUAGE_TAG, GatewaySettings

log = get_logger(__name__)

PHONE_RATE = 8000
# Caller audio 8 -> 16 kHz: soxr's quick quality, no hold-back (docs/telephony.md, "Audio", for the trade-off).
CALLER_RESAMPLING = "QQ"
START_TIMEOUT_S = 10.0  # Twilio sends `connected` and `start` as soon as the socket is open


def _tag(message: msgspec.Struct) -> str:
    return str(message.__struct_config__.tag)


class PhoneCall(Connection):
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
        line: PhoneLine,
    ) -> None:
        super().__init__(ws, request, nc, tracker, settings, tokens, budget, opening)
        # soxr's HQ filter returns 8 kHz input 100 ms at a time: the VAD would hear a barge-in up to 100 ms late.
        self.resampler = StreamResampler(PHONE_RATE, quality=CALLER_RESAMPLING)
        self.line = line
        self.outcome = "hangup"
        self._wake = asyncio.Event()

    async def _on_message(self, kind: WSMsgType, data: str | bytes) -> None:
        now = self._last_in
        if not self.limits.allow_message(now):
            await self._act([Fault("rate_limited", "more than VOICECHAT_MESSAGE_RATE messages a second")], now)
            return
        if kind is not WSMsgType.TEXT or not isinstance(data, str):
            await self._act([Fault("invalid_message", "Twilio sends JSON text frames only")], now)
            return
        try:
            message = twilio.inbound_decoder.decode(data)
        except msgspec.ValidationError as exc:
            await self._act([Fault("invalid_message", str(exc))], now)
            return
        except msgspec.DecodeError as exc:
            await self._act([Fault("invalid_message", f"not valid JSON: {exc}")], now)
            return
        _counted("in", f"twilio_{_tag(message)}").inc()
        for action in self.line.receive(message, now):
            if isinstance(action, CallerAudio):
                await self._audio(action.pcm, now)
            else:
                await self._act([action], now)

    async def _act(self, actions: list[Action], now: float) -> None:
        """Everything but caller audio: typed requests, the call's end, messages to Twilio, faults, timings."""
        for action in actions:
            match action:
                case CallerText(text=text):
                    if self._turn_refused(TextInput(text=text), now) is None:  # the same turn budget as an app's
                        self.turns.request(text, self._answer_due(now))
                        await self._apply(self.session.control(self._typed(text)))
                case End(outcome=outcome, reason=reason):
                    self.outcome, self.ended = outcome, True
                    log.info("call_ending", outcome=outcome, reason=reason)
                case Send(message=message):
                    _counted("out", f"twilio_{_tag(message)}").inc()
                    self.outbox.put(twilio.encoder.encode(message))
                case Fault(code=code, message=text):
                    ERRORS.labels("gateway", code).inc()
                    if self.limits.should_warn(now):  # at most one line a second: a flood of bad messages is counted
                        log.warning("twilio_message_dropped", code=code, reason=text[:200])
                case ClearTimed(seconds=seconds):
                    PHONE_CLEAR_LATENCY.observe(seconds)
        self._wake.set()

    def _deliver(self, data: bytes, peek: bus.EventPeek, headers: dict[str, str] | None) -> None:
        """A session event, translated for Twilio (only what Twilio can carry: audio, marks, `clear`)."""
        now = time.monotonic()
        try:
            actions = self.line.event(data, peek.type, peek.turn_id, now)
        except (msgspec.DecodeError, ValueError):
            log.warning("event_invalid", type=peek.type)
            return
        if peek.type == "error":
            log.info("call_error_event", code=peek.code)
        for action in actions:
            if isinstance(action, Send):
                _counted("out", f"twilio_{_tag(action.message)}").inc()
                self.outbox.put(twilio.encoder.encode(action.message))
            elif isinstance(action, ClearTimed):
                PHONE_CLEAR_LATENCY.observe(action.seconds)
        self._wake.set()

    def _send(self, event: ServerEvent) -> None:
        """The gateway's own events (session_start, errors, pong) have no place in Twilio's protocol; a fatal
        error closes the socket, which ends the call."""

    async def _close_when_idle(self) -> None:
        """The call's clock: releases paced audio and marks, times out keypad digits, and ends a call where
        nobody has spoken, typed or heard anything for the idle limit (or Twilio has sent nothing at all)."""
        idle = self.settings.idle_timeout_s
        while True:
            now = time.monotonic()
            await self._act(self.line.due(now), now)
            if self.line.idle_since(now) >= idle or now - self._last_in >= idle:
                self.outcome = "idle"
                await self.ws.close(code=WSCloseCode.OK, message=b"idle timeout")
                return
            wake = self.line.wake_at(now)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(1.0, max(0.0, wake - now)) if wake else 1.0):  # no task per wait
                    await self._wake.wait()

    async def _close(self, relay: Subscription, takeover: Subscription) -> None:
        self.ended = True  # a call never resumes: its workers release the session now
        await super()._close(relay, takeover)


async def pick_up(ws: web.WebSocketResponse, settings: GatewaySettings) -> PhoneLine | None:
    """Read the stream up to `start`: the call's line once it is open, else None (the socket is closed, counted)."""
    line = PhoneLine(settings.phone_lead_ms / 1000, settings.dtmf_timeout_s)
    refused = await _opening(ws, line)
    if refused is None and line.start is not None:
        return line
    refused = refused or End("refused", "no start", WSCloseCode.POLICY_VIOLATION)
    PHONE_CALLS.labels(refused.outcome).inc()
    if refused.outcome == "refused":
        ERRORS.labels("gateway", "invalid_message").inc()
    log.warning("call_refused", outcome=refused.outcome, reason=refused.reason[:200])
    await ws.close(code=refused.close_code, message=refused.reason.encode()[:120])
    return None


async def _opening(ws: web.WebSocketResponse, line: PhoneLine) -> End | None:
    """Read up to `start`: None once the stream is open, else why the call ends."""
    try:
        async with asyncio.timeout(START_TIMEOUT_S):
            while line.start is None:
                msg = await ws.receive()
                if msg.type is not WSMsgType.TEXT:
                    return End("hangup", "the socket closed before start")
                try:
                    message = twilio.inbound_decoder.decode(msg.data)
                except msgspec.DecodeError as exc:
                    return End("refused", f"invalid message before start: {exc}", WSCloseCode.POLICY_VIOLATION)
                ended = [action for action in line.receive(message, time.monotonic()) if isinstance(action, End)]
                if ended:
                    return ended[0]
    except TimeoutError:
        return End("refused", f"no start within {START_TIMEOUT_S:.0f} s", WSCloseCode.POLICY_VIOLATION)
    return None


def caller_of(line: PhoneLine) -> str:
    """The call's shopper for per-shopper limits: the caller digest from the TwiML, else the call itself."""
    assert line.start is not None
    caller = line.start.custom_parameters.get(CALLER_PARAM, "")[:32] or session_ref(line.start.call_sid)
    return f"phone:{caller}"


def opening_of(line: PhoneLine, session_id: str, default_language: str) -> Opening:
    assert line.start is not None
    language = line.start.custom_parameters.get(LANGUAGE_PARAM, default_language)
    language = language if re.fullmatch(LANGUAGE_TAG, language) else default_language
    return Opening(session_id, PHONE_RATE, language, resumed=False)


async def run_call(call: PhoneCall) -> None:
    """Run one call to its hang-up: its metrics and its log context (digests only, never the number or SID)."""
    start = call.line.start
    assert start is not None
    started = time.monotonic()
    PHONE_CALLS_ACTIVE.inc()
    context = {"call_ref": session_ref(start.call_sid), "caller": start.custom_parameters.get(CALLER_PARAM, "")[:32]}
    try:
        with structlog.contextvars.bound_contextvars(**context):
            log.info("call_started")
            await call.run()
            log.info("call_ended", outcome=call.outcome, seconds=round(time.monotonic() - started, 1))
    finally:
        PHONE_CALLS_ACTIVE.dec()
        PHONE_CALLS.labels(call.outcome).inc()
        PHONE_CALL_SECONDS.inc(time.monotonic() - started)
