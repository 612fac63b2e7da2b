"""Binary response audio (`audio_out=binary`, docs/protocol.md): the gateway's conversion of a worker's
`audio_response` event and the clients' reading of the frame agree, and malformed input is refused."""

import base64

import msgspec
import pytest

from gateway.audio_out import binary_frame
from shared.protocol import AUDIO_FRAME_HEADER, AudioResponse, encoder, unpack_audio_frame
from voice_client.cli import ClientFailure, binary_audio_event, connect_url

PCM = bytes(range(256)) * 2
_AUDIO = b'{"type": "audio_response", "turn_id": %d, "seq": %d, "data": "%s", "sample_rate": 16000}'
MALFORMED_EVENTS = (
    _AUDIO % (1, 0, b"not base64!"),
    _AUDIO % (-1, 0, b""),  # negative turn
    _AUDIO % (1, 2**32, b""),  # does not fit the header
    b'{"type": "audio_response", "turn_id": 1}',
    b"not json",
)


def test_an_audio_event_becomes_one_frame_and_back() -> None:
    event = AudioResponse(turn_id=7, seq=41, data=base64.b64encode(PCM).decode(), sample_rate=24000)
    frame = binary_frame(encoder.encode(event))
    assert frame[: AUDIO_FRAME_HEADER.size] == AUDIO_FRAME_HEADER.pack(7, 41, 24000)
    assert unpack_audio_frame(frame) == (7, 41, 24000, PCM)
    assert binary_audio_event(frame) == event  # the terminal client prints and saves it like the JSON event


@pytest.mark.parametrize("event", MALFORMED_EVENTS)
def test_malformed_audio_events_are_refused(event: bytes) -> None:
    with pytest.raises(msgspec.DecodeError):
        binary_frame(event)


@pytest.mark.parametrize("frame", [b"", b"\x00" * 11, b"\x00" * 13])
def test_frames_shorter_than_the_header_or_odd_are_refused(frame: bytes) -> None:
    with pytest.raises(ValueError, match="12-byte header"):
        unpack_audio_frame(frame)
    with pytest.raises(ClientFailure, match="not a protocol v1 audio frame"):
        binary_audio_event(frame)


def test_the_terminal_client_asks_for_binary_audio_only_when_told() -> None:
    assert "audio_out" not in connect_url("ws://h/ws/voice-chat", 16000, "en-US")
    assert connect_url("ws://h/ws/voice-chat?token=t", 8000, "en-US", binary_audio=True).endswith(
        "?token=t&sample_rate=8000&language=en-US&audio_out=binary"
    )
