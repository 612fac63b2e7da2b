"""Parses and validates what a client sends: JSON text frames (protocol v1) and binary PCM frames."""

import msgspec

from shared.audio import AudioFormatError, b64_to_pcm, check_pcm
from shared.protocol import AnyClientMessage, AudioChunk, ErrorCode, client_decoder


class ClientError(Exception):
    """A bad client message: answered with a non-fatal `error` event carrying `code`."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code: ErrorCode = code
        self.message = message


def parse_text(data: str) -> AnyClientMessage:
    try:
        message: AnyClientMessage = client_decoder.decode(data)
    except msgspec.ValidationError as exc:
        raise ClientError("invalid_message", str(exc)) from exc
    except msgspec.DecodeError as exc:
        raise ClientError("invalid_message", f"not valid JSON: {exc}") from exc
    return message


def audio_of(message: AudioChunk) -> bytes:
    try:
        return b64_to_pcm(message.data)
    except AudioFormatError as exc:
        raise ClientError(
            "unsupported_audio" if exc.code == "unsupported_audio" else "invalid_message", str(exc)
        ) from exc


def binary_audio(data: bytes) -> bytes:
    try:
        check_pcm(data)
    except AudioFormatError as exc:
        raise ClientError("unsupported_audio", str(exc)) from exc
    return data
