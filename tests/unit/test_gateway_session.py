"""The gateway's per-connection session state machine."""

from gateway.session import GatewaySession, Phase, PublishAudio, PublishControl, Reply
from shared import bus


def test_audio_before_ready_is_held_then_released_in_order() -> None:
    session = GatewaySession(max_held_frames=10)
    assert session.audio([b"a", b"b"]) == []
    assert session.control(bus.ControlBargeIn()) == []
    assert session.audio([b"c"]) == []
    released = session.claimed()
    assert released == [
        PublishAudio(0, b"a"),
        PublishAudio(1, b"b"),
        PublishControl(bus.ControlBargeIn()),
        PublishAudio(2, b"c"),
    ]
    assert session.phase is Phase.READY
    assert session.audio([b"d"]) == [PublishAudio(3, b"d")]


def test_overflow_before_ready_is_reported_once_never_silently() -> None:
    session = GatewaySession(max_held_frames=2)
    actions = session.audio([b"a", b"b", b"c", b"d"])
    assert len(actions) == 1
    reply = actions[0]
    assert isinstance(reply, Reply) and reply.event.code == "rate_limited"  # type: ignore[attr-defined]
    assert session.audio([b"e"]) == []
    assert [a.seq for a in session.claimed() if isinstance(a, PublishAudio)] == [0, 1]
    assert session.audio([b"f"]) == [PublishAudio(5, b"f")]


def test_controls_when_ready_are_published_at_once() -> None:
    session = GatewaySession(max_held_frames=2)
    session.claimed()
    assert session.control(bus.ControlText(text="hi")) == [PublishControl(bus.ControlText(text="hi"))]
    assert session.claimed() == []


def test_nothing_goes_out_after_close() -> None:
    session = GatewaySession(max_held_frames=2)
    session.claimed()
    session.close()
    assert session.audio([b"a"]) == []
