"""Paces response audio to the client: chunks of at most 100 ms, sent near real time with a bounded lead."""

import asyncio
import time
from typing import Protocol

from shared.audio import pcm_to_b64
from shared.protocol import AudioResponse, ServerEvent

CHUNK_MS = 100
LEAD_MS = 300


class AudioSink(Protocol):
    """Where paced audio goes: `emit` returns False once the turn may no longer speak."""

    async def emit(self, turn_id: int, event: ServerEvent) -> bool: ...

    def bot_audio_started(self, turn_id: int) -> None: ...


def chunks(pcm: bytes, rate: int, chunk_ms: int = CHUNK_MS) -> list[bytes]:
    size = rate * chunk_ms // 1000 * 2
    return [pcm[i : i + size] for i in range(0, len(pcm), size)]


async def play(sink: AudioSink, turn_id: int, pcm: bytes, rate: int) -> bool:
    """Send `pcm` as `audio_response` chunks; chunk i goes out at most LEAD_MS before its play time."""
    start = time.monotonic()
    for seq, chunk in enumerate(chunks(pcm, rate)):
        delay = start + (seq * CHUNK_MS - LEAD_MS) / 1000 - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        event = AudioResponse(turn_id=turn_id, seq=seq, data=pcm_to_b64(chunk), sample_rate=rate)
        if not await sink.emit(turn_id, event):
            return False
        if seq == 0:
            sink.bot_audio_started(turn_id)
    return True
