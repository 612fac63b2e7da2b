"""Dialog session adapter: feeds the turn state machine from the bus and carries out its actions.

Holds a pre-roll ring of recent audio, so a turn's stream starts a little before the VAD noticed speech.
Events produced by a running turn pass through `emit`, which drops them once the turn is no longer current.
"""

import time
from collections import deque

import msgspec
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from dialog_worker import turns
from dialog_worker.turn_api import Spoken, Turn, TurnFactory, Typed
from shared import bus, subjects
from shared.audio import FRAME_MS, frame_time_ms
from shared.epochs import EpochFilter
from shared.logs import get_logger
from shared.metrics import BARGE_IN_LATENCY, TURN_INPUTS_REJECTED
from shared.protocol import ServerEvent, encoder
from shared.session_worker import MsgHandler
from shared.settings import DialogSettings

log = get_logger(__name__)


class DialogSession:
    def __init__(
        self, nc: NATS, settings: DialogSettings, claim: bus.Claim, fence: EpochFilter, new_turn: TurnFactory
    ) -> None:
        self.nc = nc
        self.settings = settings
        self.session_id = claim.session_id
        self.machine = turns.TurnMachine(claim.last_turn_id, echo_guard_s=settings.barge_in_guard_s)
        self._fence = fence  # its epoch stamps every event (shared/epochs.py)
        self._events_at = (fence.epoch, subjects.events(claim.session_id, fence.epoch))
        self._new_turn = new_turn
        self._preroll: deque[bytes] = deque(maxlen=max(1, settings.preroll_ms // FRAME_MS))
        self._offset_ms = 0
        self._turn: Turn | None = None
        self._retiring = False
        self._confirmed = False

    def extra_subscriptions(self) -> dict[str, MsgHandler]:
        return {subjects.vad(self.session_id): self._on_vad}

    @property
    def _events(self) -> str:
        """The events subject under the session's current epoch (built again only when the epoch changes)."""
        epoch = self._fence.epoch
        if self._events_at[0] != epoch:
            self._events_at = (epoch, subjects.events(self.session_id, epoch))
        return self._events_at[1]

    async def on_audio(self, seq: int, pcm: bytes) -> None:
        self._offset_ms = frame_time_ms(seq + 1)
        self._preroll.append(pcm)
        if self._turn is not None:
            self._turn.feed(pcm)
        await self._handle(turns.Tick(time.monotonic()))

    async def _on_vad(self, msg: Msg) -> None:
        try:
            event = bus.vad_decoder.decode(msg.data)
        except msgspec.DecodeError:
            log.warning("vad_event_invalid")
            return
        if not self._confirmed:
            return
        if isinstance(event, bus.VadSpeechStarted):
            if not self._retiring:
                await self._handle(turns.SpeechStart(event.offset_ms, time.monotonic()))
        else:
            await self._handle(turns.SpeechEnd(event.offset_ms))

    async def on_control(self, message: bus.Control) -> None:
        if not self._confirmed:
            return  # meant for the previous owner, which handles it
        match message:
            case bus.ControlBargeIn():
                started = time.perf_counter()
                actions = self.machine.handle(turns.BargeIn())
                await self._run(actions)
                if actions:
                    BARGE_IN_LATENCY.observe(time.perf_counter() - started)
            case bus.ControlStartSpeaking() if not self._retiring:
                await self._handle(turns.SpeechStart(self._offset_ms, time.monotonic()))
            case bus.ControlStopSpeaking():
                await self._handle(turns.SpeechEnd(self._offset_ms))
            case bus.ControlText(text=text) if not self._retiring:
                await self._handle(turns.Text(text))

    def confirm(self) -> None:
        self._confirmed = True

    async def finish(self, grace_s: float) -> None:
        """Handing over: open no new turn (the new owner does), let the running one complete."""
        self._retiring = True
        if self._turn is not None:
            await self._turn.wait(grace_s)

    async def close(self) -> None:
        if self._turn is not None:
            self._turn.cancel()
            self._turn = None

    async def emit(self, turn_id: int, event: ServerEvent) -> bool:
        """Send an event of a running turn; False (and nothing sent) once that turn is over."""
        if not self.machine.accepts(turn_id):
            return False
        await self.nc.publish(self._events, encoder.encode(event))
        return True

    async def stream_ended(self, turn_id: int) -> None:
        await self._handle(turns.StreamEnd(turn_id, self._offset_ms))

    def bot_audio_started(self, turn_id: int) -> None:
        self._report_rejected(self.machine.handle(turns.BotAudio(turn_id, time.monotonic())))

    def turn_done(self, turn_id: int) -> None:
        self._report_rejected(self.machine.handle(turns.TurnDone(turn_id)))

    async def _handle(self, event: turns.Input) -> None:
        await self._run(self.machine.handle(event))

    def _report_rejected(self, actions: list[turns.Action]) -> None:
        """The reports of a turn change the phase only: the table gives them no other effect."""
        for action in actions:
            assert isinstance(action, turns.Rejected), action
            self._rejected(action)

    @staticmethod
    def _rejected(action: turns.Rejected) -> None:
        log.warning("turn_input_rejected", phase=action.phase.value, input=action.trigger.value)
        TURN_INPUTS_REJECTED.labels(action.phase.value, action.trigger.value).inc()

    async def _run(self, actions: list[turns.Action]) -> None:
        for action in actions:
            match action:
                case turns.Emit(event=event):
                    await self.nc.publish(self._events, encoder.encode(event))
                case turns.OpenStream(turn_id=turn_id):
                    self._turn = self._new_turn(self, turn_id, Spoken(tuple(self._preroll)))
                case turns.StartText(turn_id=turn_id, text=text):
                    self._turn = self._new_turn(self, turn_id, Typed(text))
                case turns.EndStream():
                    if self._turn is not None:
                        self._turn.end_input()
                case turns.Cancel():
                    if self._turn is not None:
                        self._turn.cancel()
                        self._turn = None
                case turns.Rejected():
                    self._rejected(action)
