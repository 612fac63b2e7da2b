"""Dialog session adapter: feeds the turn state machine (dialog_worker/turns.py) from the bus and carries out its
actions.

Hands audio to the turns' streams through a `TurnAudio` (dialog_worker/turn_audio.py): a pre-roll of recent audio,
so a turn's stream starts a little before the VAD noticed speech, then the frames that follow. The frames are the
session's audio or, with `VOICECHAT_TURN_AUDIO`, only the turn audio the VAD owner forwards (docs/audio_path.md):
the session then tells the VAD owner when no stream needs an utterance any more, and takes the client's
`start_speaking` / `stop_speaking` as the VAD relays them, in order with that audio.

Each running turn talks to the session through its own `TurnPort`: events go out only while the machine accepts
them, wait while it holds them (the answer is paused), and a port whose turn was cancelled goes silent, so a dropped
candidate turn never speaks for the turn that reuses its id. Each turn also has its `TurnLog` (its record in the
conversation log, its stages and its trace: dialog_worker/turn_log.py).

Turn ends are total: a turn's last event (`audio_end`, or an `error` that fails it) ends it in the machine before it
goes out, and a turn whose task ends without one gets `error{turn_failed}` from its port; the events that end a
turn, and the machine's own, are retried a few times when NATS refuses them (nats-py raises on publish while its
pending buffer is full), then counted and dropped. VAD events of an older VAD epoch are dropped and counted
(shared/epochs.py): the VAD owner's epoch comes from its announcement on the control subject, or a newer event.
"""

import asyncio
import time
from dataclasses import dataclass

import msgspec
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from opentelemetry.context import Context

from dialog_worker import turns
from dialog_worker.turn_api import Spoken, Turn, TurnFactory, TurnStart, Typed
from dialog_worker.turn_audio import SLACK_MS, TurnAudio
from dialog_worker.turn_log import TurnLog
from shared import bus, subjects, tracing
from shared.audio import frame_time_ms
from shared.convlog.records import Interruption
from shared.convlog.writer import LogWriter
from shared.epochs import EpochFilter, Verdict
from shared.logs import get_logger
from shared.loops import ErrorBurst, guarded
from shared.metrics import ANSWER_PAUSES, ANSWER_RESUMES, BARGE_IN_LATENCY, STALE_EPOCH, TURN_INPUTS_REJECTED
from shared.protocol import Error, Paused, Resumed, ServerEvent, Transcript, encoder, event_ends_turn
from shared.session_worker import MsgHandler
from shared.settings import DialogSettings

log = get_logger(__name__)
SURE_ATTEMPTS = 5  # how often an event that must go out (a turn's end, the machine's own) is tried
SURE_RETRY_S = 0.2
_hand_overs = ErrorBurst("dialog_hand_over")


_UNDECIDED = (turns.Phase.HELD, turns.Phase.PAUSED)


def barge_in_rules(settings: DialogSettings) -> turns.BargeInRules:
    return turns.BargeInRules(
        echo_guard_s=settings.barge_in_guard_s,
        min_speech_s=settings.barge_in_min_speech_ms / 1000,
        resume_timeout_s=settings.barge_in_resume_timeout_ms / 1000,
    )


class DialogSession:
    def __init__(
        self,
        nc: NATS,
        settings: DialogSettings,
        claim: bus.Claim,
        fence: EpochFilter,
        new_turn: TurnFactory,
        writer: LogWriter | None = None,
    ) -> None:
        self.nc = nc
        self.settings = settings
        self.session_id = claim.session_id
        self.machine = turns.TurnMachine(claim.last_turn_id, barge_in_rules(settings))
        self._fence = fence  # its epoch stamps every event (shared/epochs.py)
        self._vad_fence = EpochFilter()  # the VAD owner's epoch: its events of an older one are dropped
        self._publishes = ErrorBurst("dialog_publish")
        self._events_at = (fence.epoch, subjects.events(claim.session_id, fence.epoch))
        self._new_turn = new_turn
        self._audio = TurnAudio(settings.preroll_ms + (SLACK_MS if settings.turn_audio else 0))
        self._audio.offset_ms = frame_time_ms(claim.audio_seq)  # audio time goes on where the session was
        self._heard = 0  # the turn audio utterance of the latest speech start (0: none, or the session's audio)
        self._unclosed = 0  # the turn audio utterance the VAD owner forwards until this session closes it
        self._turns: dict[int, RunningTurn] = {}  # the running turns: the current one, a candidate
        self._decided = asyncio.Event()  # set unless the answer is paused
        self._decided.set()
        self._retiring = False
        self._confirmed = False
        self._writer = writer
        self._speech_trace: Context | None = None  # the trace of the utterance heard last (VAD or start_speaking)

    def extra_subscriptions(self) -> dict[str, MsgHandler]:
        return {subjects.vad(self.session_id): self._on_vad}

    @property
    def _events(self) -> str:
        """The events subject under the session's current epoch (built again only when the epoch changes)."""
        epoch = self._fence.epoch
        if self._events_at[0] != epoch:
            self._events_at = (epoch, subjects.events(self.session_id, epoch))
        return self._events_at[1]

    async def on_audio(self, seq: int, pcm: bytes, msg: Msg) -> None:
        """A frame of the session's audio, or a chunk of frames of turn audio (`bus.pack_chunk`): one clock tick."""
        utterance = subjects.utterance_of(msg.subject)
        for frame_seq, frame in bus.frames_of(seq, pcm):
            self._audio.frame(utterance, frame_seq, frame)
        await self._handle(turns.Tick(time.monotonic()), "speech")
        if self._unclosed:
            await self._close_turn_audio()

    async def _close_turn_audio(self) -> None:
        """Tell the VAD owner to stop forwarding once no stream needs the utterance, unless speech over the answer is
        undecided: held speech may open a stream, and the frames are the ticks that decide it (turns.Tick)."""
        if not self._audio.listening and self.machine.phase not in _UNDECIDED:
            message = bus.TurnAudioClosed(utterance=self._unclosed, epoch=self._fence.epoch)
            self._unclosed = 0
            await self.nc.publish(subjects.turn_audio_closed(self.session_id), bus.encoder.encode(message))

    async def _on_vad(self, msg: Msg) -> None:
        try:
            event = bus.vad_decoder.decode(msg.data)
        except msgspec.DecodeError:
            log.warning("vad_event_invalid")
            return
        if not self._confirmed:
            return
        if self._vad_fence.judge(event.epoch) is Verdict.STALE:
            STALE_EPOCH.labels("vad").inc()  # from a VAD worker that no longer owns the session
            return
        self._vad_fence.advance(event.epoch)
        if isinstance(event, bus.VadSpeechStarted):
            self._speech_trace = tracing.extract(msg.headers)
            if not self._retiring:  # the new owner handles (and closes) the utterance
                self._heard = self._unclosed = event.utterance if self.settings.turn_audio else 0
                await self._handle(turns.SpeechStart(event.offset_ms, time.monotonic()), "speech")
        else:
            await self._handle(turns.SpeechEnd(event.offset_ms), "stop" if event.client else None)
        if self._unclosed:
            await self._close_turn_audio()

    async def on_control(self, message: bus.Control) -> None:
        if isinstance(message, bus.ControlOwner):  # the VAD's owner (its announcement may come before ours)
            if message.kind == "vad":
                self._vad_fence.advance(message.epoch)
            return
        if not self._confirmed:
            return  # meant for the previous owner, which handles it
        match message:
            case bus.ControlBargeIn():
                started = time.perf_counter()
                actions = self._step(turns.BargeIn())
                await self._run(actions, "barge_in")
                if actions:
                    BARGE_IN_LATENCY.observe(time.perf_counter() - started)
            case bus.ControlStartSpeaking() if not self._retiring and not self.settings.turn_audio:
                self._speech_trace = tracing.incoming()
                await self._handle(turns.SpeechStart(self.offset_ms, time.monotonic()), "speech")
            case bus.ControlStopSpeaking() if not self.settings.turn_audio:
                await self._handle(turns.SpeechEnd(self.offset_ms), "stop")
            case bus.ControlText(text=text, turn_id=expected) if not self._retiring:
                await self._handle(turns.Text(text, expected), "text")
            case bus.ControlTurnLost(turn_id=turn_id):
                await self._handle(turns.TurnLost(turn_id), "turn_lost")
            case bus.ControlTurnTaken(turn_id=turn_id):
                await self._handle(turns.TurnTaken(turn_id))

    def confirm(self) -> None:
        self._confirmed = True

    async def finish(self, grace_s: float) -> None:
        """Handing over: open no new turn (the new owner does), let the running ones complete. Speech over the
        answer is a barge-in whose turn is the new owner's: the answer is interrupted and the speech passed on."""
        if not self._retiring:
            self._retiring = True
            await guarded(_hand_overs, self._handle(turns.HandOver(), "speech"))  # NATS may be away mid-drain
        await asyncio.gather(*(running.turn.wait(grace_s) for running in list(self._turns.values())))

    async def close(self) -> None:
        self._audio.clear()
        for running in self._turns.values():
            running.port.live = False
            running.turn.cancel()
        self._turns.clear()

    async def publish(self, port: "TurnPort", event: ServerEvent) -> bool:
        """Send an event of a running turn; False (and nothing sent) once that turn is over. The event that ends
        the turn ends it in the machine first (nothing of the turn can follow it) and is sent surely; a NATS error
        on any other event is raised to the turn, which then fails."""
        turn_id = port.turn_id
        if not self.machine.accepts(turn_id):
            return False
        headers = self._trace_headers(turn_id)
        if not event_ends_turn(event):
            await self.nc.publish(self._events, encoder.encode(event), headers=headers)
            return True
        port.live = False
        self.forget(port)
        self.report(turns.TurnDone(turn_id))
        await self._send_surely(event, headers)
        return True

    async def _send_surely(self, event: ServerEvent, headers: dict[str, str] | None) -> None:
        """Publish, retried a few times while NATS refuses; then counted and logged (once per burst), not raised."""
        for attempt in range(SURE_ATTEMPTS):
            try:
                await self.nc.publish(self._events, encoder.encode(event), headers=headers)
                return
            except Exception as exc:  # noqa: BLE001 - counted, logged per burst, retried: the turn must end
                self._publishes.failed(exc)
            if attempt + 1 < SURE_ATTEMPTS:
                await asyncio.sleep(SURE_RETRY_S)

    def _trace_headers(self, turn_id: int | None) -> dict[str, str] | None:
        """The trace context for the gateway: the turn's, or (before it opens) the utterance's."""
        running = self._turns.get(turn_id) if turn_id is not None else None
        if running is not None:
            return running.log.headers()
        return tracing.headers(self._speech_trace)

    async def until_decided(self) -> None:
        await self._decided.wait()

    async def handle_report(self, event: turns.Input) -> None:
        await self._handle(event)

    def report(self, event: turns.BotAudio | turns.TurnDone) -> None:
        """A turn's synchronous report: the table gives these no effect but the phase (tests/unit/test_turns.py)."""
        for action in self._step(event):
            assert isinstance(action, turns.Rejected), action
            self._rejected(action)

    def forget(self, port: "TurnPort") -> None:
        """The turn behind `port` is over."""
        running = self._turns.get(port.turn_id)
        if running is not None and running.port is port:
            del self._turns[port.turn_id]
            self._audio.forget(port.turn_id)

    @property
    def offset_ms(self) -> int:
        return self._audio.offset_ms

    def _step(self, event: turns.Input) -> list[turns.Action]:
        actions = self.machine.handle(event)
        if self.machine.phase is turns.Phase.PAUSED:
            self._decided.clear()
        else:
            self._decided.set()
        return actions

    async def _handle(self, event: turns.Input, cause: Interruption | None = None) -> None:
        await self._run(self._step(event), cause)

    @staticmethod
    def _rejected(action: turns.Rejected) -> None:
        log.warning("turn_input_rejected", phase=action.phase.value, input=action.trigger.value)
        TURN_INPUTS_REJECTED.labels(action.phase.value, action.trigger.value).inc()

    def _start(self, log: TurnLog, start: TurnStart) -> Turn:
        port = TurnPort(self, log.turn_id)
        turn = self._new_turn(port, log, start)
        self._turns[log.turn_id] = RunningTurn(port, turn, log)
        return turn

    async def _run(self, actions: list[turns.Action], cause: Interruption | None = None) -> None:
        """Carry out the machine's actions; `cause` is the input that led to them (why a turn is cancelled)."""
        for action in actions:
            match action:
                case turns.Emit(event=event):
                    headers = self._trace_headers(getattr(event, "turn_id", None)) if tracing.enabled() else None
                    await self._send_surely(event, headers)
                    if isinstance(event, Paused):
                        ANSWER_PAUSES.inc()
                    elif isinstance(event, Resumed):
                        ANSWER_RESUMES.inc()
                case turns.OpenStream(turn_id=turn_id):
                    log = TurnLog(self.session_id, turn_id, "speech", self._writer, self._speech_trace)
                    preroll = self._audio.preroll(self._heard)
                    self._audio.listen(turn_id, self._start(log, Spoken(preroll.frames)).feed, preroll)
                case turns.StartText(turn_id=turn_id, text=text):
                    self._start(
                        TurnLog(self.session_id, turn_id, "text", self._writer, tracing.incoming(), text), Typed(text)
                    )
                case turns.EndStream(turn_id=turn_id):
                    self._audio.forget(turn_id)
                    if turn_id in self._turns:
                        self._turns[turn_id].turn.end_input()
                case turns.Cancel(turn_id=turn_id):
                    if turn_id in self._turns:
                        running = self._turns.pop(turn_id)
                        self._audio.forget(turn_id)
                        running.log.interrupted_by = cause
                        running.port.live = False
                        running.turn.cancel()
                case turns.PassSpeech(offset_ms=offset_ms):
                    speech = bus.encoder.encode(bus.VadSpeechStarted(offset_ms=offset_ms))
                    await self.nc.publish(subjects.vad(self.session_id), speech, headers=self._trace_headers(None))
                case turns.Rejected():
                    self._rejected(action)


@dataclass(frozen=True, slots=True)
class RunningTurn:
    port: "TurnPort"
    turn: Turn
    log: TurnLog


class TurnPort:
    """The `TurnSink` one running turn gets: silent once the session dropped that turn."""

    def __init__(self, session: DialogSession, turn_id: int) -> None:
        self.session = session
        self.turn_id = turn_id
        self.live = True

    async def emit(self, turn_id: int, event: ServerEvent) -> bool:
        if self.live and isinstance(event, Transcript) and event.text:
            await self.session.handle_report(turns.Words(turn_id))
        await self.wait_while_paused(turn_id)
        return self.live and await self.session.publish(self, event)

    async def wait_while_paused(self, turn_id: int) -> float:
        waited = 0.0
        while self.live and self.session.machine.holds(turn_id):
            started = time.monotonic()
            await self.session.until_decided()
            waited += time.monotonic() - started
        return waited

    def bot_audio_started(self, turn_id: int) -> None:
        if self.live:
            self.session.report(turns.BotAudio(turn_id, time.monotonic()))

    async def stream_ended(self, turn_id: int) -> None:
        if self.live:
            await self.session.handle_report(turns.StreamEnd(turn_id, self.session.offset_ms))

    async def turn_done(self, turn_id: int) -> None:
        """The turn's task is over: one that sent no last event (a bug, or cut short) fails here."""
        if self.live:
            message = "the turn ended without an answer"
            await self.emit(turn_id, Error(code="turn_failed", message=message, turn_id=turn_id, fatal=False))
        if self.live:  # not accepted: nothing of it may be sent
            self.live = False
            self.session.forget(self)
            self.session.report(turns.TurnDone(turn_id))
