"""Protocol v1 and bus schemas: round trips, strict client boundary, tolerant internal boundary."""

import msgspec
import pytest

from shared import bus, protocol
from shared.settings import GatewaySettings, SettingsError, VadSettings, load_settings


@pytest.mark.parametrize(
    "message",
    [
        protocol.AudioChunk(data="AAA="),
        protocol.StartSpeaking(),
        protocol.StopSpeaking(),
        protocol.BargeIn(),
        protocol.TextInput(text="hello"),
        protocol.Ping(),
        protocol.EndSession(),
    ],
)
def test_client_messages_round_trip(message: protocol.ClientMessage) -> None:
    assert protocol.client_decoder.decode(protocol.encoder.encode(message)) == message


@pytest.mark.parametrize(
    "raw",
    [
        b'{"type": "nope"}',
        b'{"type": "ping", "extra": 1}',
        b'{"type": "text_input"}',
        b'{"type": "text_input", "text": 5}',
        b'{"type": "text_input", "text": ""}',
        b'{"data": "AAA="}',
        b"[1, 2]",
    ],
)
def test_client_boundary_rejects(raw: bytes) -> None:
    with pytest.raises(msgspec.ValidationError):
        protocol.client_decoder.decode(raw)


def test_server_events_round_trip_and_error_omits_missing_turn() -> None:
    event = protocol.Intent(turn_id=2, name="search_products", confidence=0.9, parameters={"query": "shoes"})
    assert protocol.server_decoder.decode(protocol.encoder.encode(event)) == event
    error = protocol.encoder.encode(protocol.Error(code="internal", message="x", fatal=False))
    assert b"turn_id" not in error and b'"fatal":false' in error


def test_internal_schemas_accept_unknown_fields() -> None:
    claim = bus.claim_decoder.decode(b'{"session_id": "ab", "future_field": true}')
    assert claim.session_id == "ab"
    control = bus.control_decoder.decode(b'{"op": "text_input", "text": "hi", "priority": 3}')
    assert control == bus.ControlText(text="hi")


def test_frames_carry_their_sequence_number_and_epochs() -> None:
    assert bus.unpack_frame(bus.pack_frame(7, b"\x01\x02", 3, 9)) == (7, (3, 9), b"\x01\x02")
    assert bus.unpack_frame(bus.pack_frame(2**31 + 5, b"")) == (5, (0, 0), b"")
    with pytest.raises(ValueError):
        bus.unpack_frame(b"\x00")
    with pytest.raises(ValueError):
        bus.unpack_frame(bus.pack_frame(1, b"")[:8])


def test_frames_from_before_fencing_are_read_as_unstamped() -> None:
    assert bus.unpack_frame(bus.FRAME_HEADER.pack(41) + b"\x05\x06") == (41, (0, 0), b"\x05\x06")


def test_messages_from_before_fencing_decode_with_epoch_zero() -> None:
    assert bus.claim_decoder.decode(b'{"session_id": "ab"}').epoch == 0
    assert bus.control_decoder.decode(b'{"op": "owner", "kind": "vad", "worker_id": "w"}').epoch == 0
    assert bus.vad_decoder.decode(b'{"type": "speech_started", "offset_ms": 20}').epoch == 0


def test_settings_are_typed_and_validated() -> None:
    settings = load_settings(
        GatewaySettings, {"VOICECHAT_HTTP_PORT": "9000", "VOICECHAT_ALLOWED_ORIGINS": "https://a, https://b"}
    )
    assert settings.http_port == 9000
    assert settings.allowed_origins == ("https://a", "https://b")
    with pytest.raises(SettingsError, match="VOICECHAT_HTTP_PORT"):
        load_settings(GatewaySettings, {"VOICECHAT_HTTP_PORT": "eighty"})
    with pytest.raises(SettingsError, match="VOICECHAT_VAD_FRAME_MS"):
        load_settings(VadSettings, {"VOICECHAT_VAD_FRAME_MS": "25"})
