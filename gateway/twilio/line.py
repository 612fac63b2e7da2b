"""One phone call's protocol state (pure, time passed in; docs/telephony.md): Twilio's messages in, what the
session gets and what Twilio is sent out.

Inbound, phase x message -> actions:

| phase     | connected | start                          | media               | dtmf   | mark          | stop |
|-----------|-----------|--------------------------------|---------------------|--------|---------------|------|
| awaiting  | -         | streaming if mu-law 8 kHz mono | end                 | end    | end           | end  |
| streaming | fault     | fault                          | caller audio, fault | keypad | playback done | end  |
| ended     | -         | -                              | -                   | -      | -             | -    |

A fault is a bad message answered by counting it and dropping it (the call goes on); an end closes the stream.
Outbound, from the session's events: `audio_response` is re-encoded for the phone and paced, `audio_end` adds a
`mark` after the answer, `interrupted` drops the answer and sends `clear` if any of it was still to play,
`paused` sends `clear` and keeps the rest, `resumed` goes on from there.
"""

import base64
import binascii
from collections import deque
from dataclasses import dataclass
from enum import Enum

import msgspec

from gateway.twilio import messages as twilio
from gateway.twilio.answer_audio import AnswerEncoder
from gateway.twilio.dtmf import DtmfCollector
from gateway.twilio.pacer import MarkOut, Pacer
from shared import mulaw
from shared.audio import FRAME_MS
from shared.protocol import AudioResponse, ErrorCode, SpeechStarted

_audio_decoder = msgspec.json.Decoder(AudioResponse)
_speech_decoder = msgspec.json.Decoder(SpeechStarted)

# How far apart a `clear` and the speech start that caused it may be (either may reach the gateway first).
CLEAR_PAIRING_S = 2.0
ARRIVALS_KEPT = 500  # media arrival times remembered (10 s of audio)
MAX_PAYLOAD_BYTES = 8000  # one second of mu-law in one media message is far more than Twilio's 20 ms


class Phase(Enum):
    AWAITING = "awaiting"
    STREAMING = "streaming"
    ENDED = "ended"


@dataclass(frozen=True, slots=True)
class CallerAudio:
    pcm: bytes  # PCM16LE, 8 kHz


@dataclass(frozen=True, slots=True)
class CallerText:
    text: str


@dataclass(frozen=True, slots=True)
class Send:
    message: twilio.AnyOutbound


@dataclass(frozen=True, slots=True)
class Fault:
    code: ErrorCode
    message: str


@dataclass(frozen=True, slots=True)
class End:
    outcome: str  # a `voicechat_phone_calls_total` outcome
    reason: str
    close_code: int = 1000  # WebSocket close code: 1000 normal, 1003 unsupported data, 1008 policy


@dataclass(frozen=True, slots=True)
class ClearTimed:
    seconds: float  # caller's speech frame arrival to `clear`


Action = CallerAudio | CallerText | Send | Fault | End | ClearTimed


def answer_mark(turn_id: int) -> str:
    return f"answer-{turn_id}"


class PhoneLine:
    def __init__(self, lead_s: float, dtmf_timeout_s: float) -> None:
        self.phase = Phase.AWAITING
        self.start: twilio.StartInfo | None = None
        self.stream_sid = ""
        self.pacer = Pacer(lead_s)
        self.keypad = DtmfCollector(dtmf_timeout_s)
        self.last_activity = 0.0
        self.played_turns: list[int] = []  # answers whose final mark Twilio echoed
        self._encoders: dict[int, AnswerEncoder] = {}
        self._arrivals: deque[float] = deque(maxlen=ARRIVALS_KEPT)
        self._media_count = 0
        self._last_clear: float | None = None
        self._last_speech: float | None = None

    # Twilio -> gateway

    def receive(self, message: twilio.AnyInbound, now: float) -> list[Action]:
        if self.phase is Phase.ENDED:
            return []
        if self.phase is Phase.AWAITING:
            return self._awaiting(message, now)
        match message:
            case twilio.Media(media=media):
                return self._media(media.payload, now)
            case twilio.Dtmf(dtmf=dtmf):
                self.last_activity = now
                text = self.keypad.press(dtmf.digit, now)
                return [CallerText(text)] if text else []
            case twilio.Mark(mark=mark):
                self._mark_played(mark.name, now)
                return []
            case twilio.Stop():
                return self._end("stop", "Twilio stopped the stream")
            case _:
                return [Fault("invalid_message", f"unexpected {type(message).__name__.lower()} during the call")]

    def _awaiting(self, message: twilio.AnyInbound, now: float) -> list[Action]:
        match message:
            case twilio.Connected():
                return []
            case twilio.Start(start=start):
                if start.media_format != twilio.SUPPORTED_FORMAT:
                    fmt = start.media_format
                    reason = f"unsupported mediaFormat {fmt.encoding} {fmt.sample_rate} Hz x{fmt.channels}"
                    return self._end("refused", reason, 1003)
                self.phase, self.start, self.stream_sid = Phase.STREAMING, start, start.stream_sid
                self.last_activity = now
                return []
            case twilio.Stop():
                return self._end("stop", "Twilio stopped the stream before it started")
            case _:
                return self._end("refused", f"{type(message).__name__.lower()} before start", 1008)

    def _media(self, payload: str, now: float) -> list[Action]:
        try:
            ulaw = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            return [Fault("invalid_message", "media.payload is not valid base64")]
        if len(ulaw) > MAX_PAYLOAD_BYTES:
            return [Fault("message_too_large", f"media.payload over {MAX_PAYLOAD_BYTES} bytes")]
        self._media_count += 1
        self._arrivals.append(now)
        return [CallerAudio(mulaw.decode(ulaw))]

    def _mark_played(self, name: str, now: float) -> None:
        """Twilio played an answer to its end: the caller heard the bot until now (the idle limit starts here)."""
        if self.pacer.pending(name):
            return  # echoed by a `clear` on pause: the mark is queued again
        prefix, _, turn = name.partition("-")
        if prefix == "answer" and turn.isdigit():
            self.played_turns.append(int(turn))
            self.last_activity = now

    def _end(self, outcome: str, reason: str, close_code: int = 1000) -> list[Action]:
        self.phase = Phase.ENDED
        return [End(outcome, reason, close_code)]

    # session events -> Twilio

    def event(self, raw: bytes, kind: str, turn_id: int | None, now: float) -> list[Action]:
        if self.phase is not Phase.STREAMING:
            return []
        match kind:
            case "audio_response":
                chunk = _audio_decoder.decode(raw)
                encoder = self._encoders.get(chunk.turn_id)
                if encoder is None:
                    encoder = self._encoders[chunk.turn_id] = AnswerEncoder(chunk.sample_rate)
                self.pacer.add(encoder.push(base64.b64decode(chunk.data)))
                self.last_activity = now
            case "audio_end" if turn_id is not None:
                ending = self._encoders.pop(turn_id, None)
                self.pacer.add([*(ending.flush() if ending else []), MarkOut(answer_mark(turn_id))])
            case "interrupted":
                self._encoders.pop(turn_id or 0, None)
                if self.pacer.drop(now):
                    return self._clear(now)
            case "paused":
                self.pacer.pause(now)
                return self._clear(now)
            case "resumed":
                self.pacer.resume(now)
            case "speech_started":
                self.last_activity = now
                return self._speech_started(_speech_decoder.decode(raw).offset_ms, now)
            case "speech_ended" | "transcript":
                self.last_activity = now
        return []

    def _clear(self, now: float) -> list[Action]:
        self._last_clear = now
        actions: list[Action] = [Send(twilio.Clear(stream_sid=self.stream_sid))]
        if self._last_speech is not None and now - self._last_speech <= CLEAR_PAIRING_S:
            actions.append(ClearTimed(now - self._last_speech))
            self._last_speech = self._last_clear = None
        return actions

    def _speech_started(self, offset_ms: int, now: float) -> list[Action]:
        """When the first speech frame arrived: `offset_ms` is audio time, one media message per 20 ms."""
        index = offset_ms // FRAME_MS
        back = self._media_count - 1 - index
        if not 0 <= back < len(self._arrivals):
            return []
        arrived = self._arrivals[-1 - back]
        if self._last_clear is not None and 0.0 <= self._last_clear - arrived <= CLEAR_PAIRING_S:
            seconds = self._last_clear - arrived
            self._last_speech = self._last_clear = None
            return [ClearTimed(seconds)]
        self._last_speech = arrived
        return []

    # time

    def due(self, now: float) -> list[Action]:
        """Paced audio and marks now due, and a keypad request whose digits timed out."""
        actions: list[Action] = [Send(self._outbound(item)) for item in self.pacer.due(now)]
        text = self.keypad.tick(now)
        if text:
            self.last_activity = now
            actions.append(CallerText(text))
        return actions

    def wake_at(self, now: float) -> float | None:
        times = [t for t in (self.pacer.next_due(now), self.keypad.deadline) if t is not None]
        return min(times) if times else None

    def idle_since(self, now: float) -> float:
        """Seconds without caller speech, keys or bot audio (a silent line still sends media)."""
        if self.pacer.playing(now):
            self.last_activity = now
        return now - self.last_activity

    def _outbound(self, item: bytes | MarkOut) -> twilio.AnyOutbound:
        if isinstance(item, MarkOut):
            return twilio.OutMark(stream_sid=self.stream_sid, mark=twilio.MarkInfo(name=item.name))
        payload = base64.b64encode(item).decode("ascii")
        return twilio.OutMedia(stream_sid=self.stream_sid, media=twilio.OutMediaInfo(payload=payload))
