"""One call's protocol table (gateway/twilio/line.py): every phase x message, and the events that reach Twilio."""

import base64

import numpy as np
import pytest

from gateway.twilio import messages as twilio
from gateway.twilio.line import CallerAudio, CallerText, ClearTimed, End, Fault, Phase, PhoneLine, Send, answer_mark
from shared import mulaw
from shared.audio import array_to_pcm, pcm_to_b64
from shared.protocol import AudioEnd, AudioResponse, Interrupted, SpeechStarted, encoder

SID = "MZ00000000000000000000000000000000"
START = twilio.Start(
    stream_sid=SID,
    start=twilio.StartInfo(stream_sid=SID, account_sid="AC1", call_sid="CA1", media_format=twilio.SUPPORTED_FORMAT),
)
SILENCE = base64.b64encode(b"\xff" * 160).decode()


def media(payload: str = SILENCE) -> twilio.Media:
    return twilio.Media(stream_sid=SID, media=twilio.MediaInfo(payload=payload))


def streaming() -> PhoneLine:
    line = PhoneLine(lead_s=0.06, dtmf_timeout_s=3.0)
    assert line.receive(twilio.Connected(protocol="Call", version="1.0.0"), 0.0) == []
    assert line.receive(START, 0.0) == []
    assert line.phase is Phase.STREAMING and line.stream_sid == SID
    return line


def feed(line: PhoneLine, event: object, now: float) -> list[object]:
    raw = encoder.encode(event)
    return list(line.event(raw, type(event).__struct_config__.tag, getattr(event, "turn_id", None), now))  # type: ignore[attr-defined]


def answer(line: PhoneLine, turn_id: int, seconds: float, now: float = 0.0) -> None:
    tone = (8000 * np.sin(np.arange(int(16000 * seconds)) / 5)).astype(np.int16)
    chunk = AudioResponse(turn_id=turn_id, seq=0, data=pcm_to_b64(array_to_pcm(tone)), sample_rate=16000)
    assert feed(line, chunk, now) == []
    assert feed(line, AudioEnd(turn_id=turn_id), now) == []


@pytest.mark.parametrize(
    ("message", "outcome"),
    [
        (media(), "refused"),
        (twilio.Dtmf(stream_sid=SID, dtmf=twilio.DtmfInfo(digit="1")), "refused"),
        (twilio.Mark(stream_sid=SID, mark=twilio.MarkInfo(name="x")), "refused"),
        (twilio.Stop(stream_sid=SID, stop=twilio.StopInfo(account_sid="AC1", call_sid="CA1")), "stop"),
    ],
)
def test_awaiting_start(message: twilio.AnyInbound, outcome: str) -> None:
    line = PhoneLine(0.06, 3.0)
    [end] = line.receive(message, 0.0)
    assert isinstance(end, End) and end.outcome == outcome and line.phase is Phase.ENDED
    assert line.receive(START, 0.1) == []  # ended: nothing more


@pytest.mark.parametrize(
    "fmt",
    [
        twilio.MediaFormat(encoding="audio/x-alaw", sample_rate=8000, channels=1),
        twilio.MediaFormat(encoding="audio/x-mulaw", sample_rate=16000, channels=1),
        twilio.MediaFormat(encoding="audio/x-mulaw", sample_rate=8000, channels=2),
    ],
)
def test_unsupported_media_format_ends_the_call(fmt: twilio.MediaFormat) -> None:
    start = twilio.Start(
        stream_sid=SID, start=twilio.StartInfo(stream_sid=SID, account_sid="A", call_sid="C", media_format=fmt)
    )
    [end] = PhoneLine(0.06, 3.0).receive(start, 0.0)
    assert isinstance(end, End) and end.outcome == "refused" and "mediaFormat" in end.reason


def test_streaming_messages() -> None:
    line = streaming()
    [audio] = line.receive(media(base64.b64encode(mulaw.encode(b"\x10\x00" * 160)).decode()), 0.02)
    assert isinstance(audio, CallerAudio) and len(audio.pcm) == 320
    [fault] = line.receive(media("not base64!"), 0.04)
    assert isinstance(fault, Fault) and fault.code == "invalid_message"
    [big] = line.receive(media(base64.b64encode(bytes(9000)).decode()), 0.06)
    assert isinstance(big, Fault) and big.code == "message_too_large"
    [again] = line.receive(START, 0.08)
    assert isinstance(again, Fault)
    assert line.receive(twilio.Dtmf(stream_sid=SID, dtmf=twilio.DtmfInfo(digit="7")), 0.1) == []
    assert line.receive(twilio.Dtmf(stream_sid=SID, dtmf=twilio.DtmfInfo(digit="#")), 0.2) == [
        CallerText("tell me about product 7")
    ]
    [end] = line.receive(twilio.Stop(stream_sid=SID, stop=twilio.StopInfo(account_sid="A", call_sid="C")), 0.3)
    assert isinstance(end, End) and end.outcome == "stop"


def test_keypad_timeout_comes_from_due() -> None:
    line = streaming()
    line.receive(twilio.Dtmf(stream_sid=SID, dtmf=twilio.DtmfInfo(digit="4")), 1.0)
    assert line.wake_at(1.0) == 4.0
    assert line.due(4.0) == [CallerText("tell me about product 4")]


def test_answer_is_paced_mu_law_with_a_mark_after_it() -> None:
    line = streaming()
    answer(line, 1, 0.5)
    sent = [a.message for now in np.arange(0, 0.7, 0.02) for a in line.due(float(now)) if isinstance(a, Send)]
    frames = [m for m in sent if isinstance(m, twilio.OutMedia)]
    assert 24 <= len(frames) <= 26 and all(len(base64.b64decode(m.media.payload)) == 160 for m in frames)
    assert all(m.stream_sid == SID for m in sent)
    assert sent[-1] == twilio.OutMark(stream_sid=SID, mark=twilio.MarkInfo(name=answer_mark(1)))
    assert line.receive(twilio.Mark(stream_sid=SID, mark=twilio.MarkInfo(name=answer_mark(1))), 0.8) == []
    assert line.played_turns == [1]


def test_interrupted_mid_answer_clears_and_drops() -> None:
    line = streaming()
    answer(line, 1, 2.0)
    line.due(0.0)
    actions = feed(line, Interrupted(turn_id=1), 0.3)
    assert actions == [Send(twilio.Clear(stream_sid=SID))]
    assert line.due(5.0) == []
    assert feed(line, Interrupted(turn_id=1), 5.0) == []  # nothing left to clear


def test_clear_latency_pairs_speech_start_with_the_clear() -> None:
    line = streaming()
    for i in range(50):  # one media message per 20 ms from t=0
        line.receive(media(), i * 0.02)
    answer(line, 1, 2.0, now=0.2)
    line.due(0.2)
    feed(line, Interrupted(turn_id=1), 1.0)  # interrupted first, then the speech start of the next turn
    [timed] = feed(line, SpeechStarted(turn_id=2, offset_ms=880), 1.05)  # frame 44 arrived at 0.88
    assert isinstance(timed, ClearTimed) and timed.seconds == pytest.approx(0.12)


def test_idle_counts_bot_audio_as_activity() -> None:
    line = streaming()
    answer(line, 1, 1.0, now=10.0)
    for now in np.arange(10.0, 11.2, 0.02):
        line.due(float(now))
        if now < 10.9:
            assert line.idle_since(float(now)) == 0.0
    assert 58.5 < line.idle_since(70.0) < 59.5


def test_paused_clears_and_keeps_the_answer_resumed_goes_on() -> None:
    """`paused`/`resumed` (issue 16's take-back-able interruption) by event type: the line needs only the type."""
    line = streaming()
    answer(line, 1, 1.0)
    first = [a.message for a in line.due(0.0) if isinstance(a, Send)]  # 4 frames within the lead
    assert line.event(b'{"type":"paused","turn_id":1}', "paused", 1, 0.03) == [Send(twilio.Clear(stream_sid=SID))]
    assert line.due(0.5) == []
    line.event(b'{"type":"resumed","turn_id":1}', "resumed", 1, 1.0)
    again = [a.message for a in line.due(1.0) if isinstance(a, Send)]
    assert again[0] == first[1]  # from the frame that was playing when paused: nothing lost, one frame repeated
    sent = [a.message for now in np.arange(1.02, 3.0, 0.02) for a in line.due(float(now)) if isinstance(a, Send)]
    assert sent[-1] == twilio.OutMark(stream_sid=SID, mark=twilio.MarkInfo(name=answer_mark(1)))
    assert len(first) + len(again) + len(sent) - 1 == 50 + 3  # 1 s of frames (and the mark), 3 sent twice
