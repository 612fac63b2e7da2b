"""Response audio as binary WebSocket frames (`audio_out=binary`, docs/protocol.md): an `audio_response` event as
the workers publish it (JSON, base64 PCM) becomes one frame of `shared.protocol.AUDIO_FRAME_HEADER` + PCM.

msgspec decodes the base64 straight into bytes, so the PCM is copied once more, into the frame.
"""

from typing import Annotated

import msgspec

from shared.protocol import AUDIO_FRAME_HEADER

_U32 = Annotated[int, msgspec.Meta(ge=0, le=0xFFFFFFFF)]


class _AudioEvent(msgspec.Struct):
    turn_id: _U32
    seq: _U32
    data: bytes  # base64 in the JSON
    sample_rate: _U32


_decoder = msgspec.json.Decoder(_AudioEvent)


def binary_frame(event: bytes) -> bytes:
    """The binary frame of one `audio_response` event; msgspec.DecodeError when the event is malformed."""
    audio = _decoder.decode(event)
    return AUDIO_FRAME_HEADER.pack(audio.turn_id, audio.seq, audio.sample_rate) + audio.data
