"""The one rule of when a turn is over (`shared.protocol.ends_turn`), for every server event type."""

import msgspec
import pytest

from shared import protocol
from shared.protocol import ends_turn, event_ends_turn, event_type

_EVENTS: list[protocol.ServerEvent] = [
    protocol.SessionStart(session_id="s", resume_token="t", sample_rate=16000, language="en-US", resumed=False),
    protocol.ResumeToken(resume_token="t", resume_expires_in_s=60),
    protocol.SpeechStarted(turn_id=1, offset_ms=0),
    protocol.SpeechEnded(turn_id=1, offset_ms=20),
    protocol.Transcript(turn_id=1, text="hi", is_final=True),
    protocol.Intent(turn_id=1, name="greet", confidence=1.0),
    protocol.ToolResult(turn_id=1, tool="search", output={}),
    protocol.ResponseText(turn_id=1, text="hello"),
    protocol.AudioResponse(turn_id=1, seq=0, data="", sample_rate=16000),
    protocol.AudioEnd(turn_id=1),
    protocol.Interrupted(turn_id=1),
    protocol.Pong(),
]


def test_the_rule_covers_every_server_event_type() -> None:
    tags = {event_type(e) for e in _EVENTS} | {"error"}
    union = {t.__struct_config__.tag for t in protocol.AnyServerEvent.__args__}
    assert tags == union


@pytest.mark.parametrize("event", _EVENTS, ids=event_type)
def test_only_audio_end_and_interrupted_end_a_turn_among_plain_events(event: protocol.ServerEvent) -> None:
    expected = event_type(event) in ("audio_end", "interrupted")
    assert event_ends_turn(event) is expected
    assert ends_turn(event_type(event)) is expected
    decoded = msgspec.json.decode(protocol.encoder.encode(event))
    assert ends_turn(decoded["type"], decoded.get("code")) is expected  # the same rule on raw JSON (chaos, bench)


@pytest.mark.parametrize("code", list(protocol.ErrorCode.__args__))  # type: ignore[attr-defined]
def test_an_error_ends_a_turn_only_when_it_fails_it(code: protocol.ErrorCode) -> None:
    error = protocol.Error(code=code, message="m", fatal=False, turn_id=1)
    expected = code in ("turn_failed", "dialog_unavailable")
    assert event_ends_turn(error) is expected
    assert ends_turn("error", code) is expected


def test_event_types_the_rule_does_not_know_do_not_end_a_turn() -> None:
    assert not ends_turn("paused")
    assert not ends_turn("resumed")
    assert not ends_turn("error")
