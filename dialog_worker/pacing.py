"""Paces response audio to the client: chunks of at most 100 ms, sent near real time with a bounded lead."""

import asyncio
import time
from typing import Protocol

from shared.audio import pcm_to_b64
from shared.protocol import AudioResponse, ServerEvent

CHUNK_MS = 100
LEAD_MS = 300


class AudioSink(Protocol):
    """Where paced audio goes: `emit` returns False once the turn may no longer speak; `wait_while_paused` returns
    how long the turn's audio was held back (0.0: it was not)."""

    async def emit(self, turn_id: int, event: ServerEvent) -> bool: ...

    async def wait_while_paused(self, turn_id: int) -> float: ...

    def bot_audio_started(self, turn_id: int) -> None: ...


def chunks(pcm: bytes, rate: int, chunk_ms: int = CHUNK_MS) -> list[bytes]:
    size = rate * chunk_ms // 1000 * 2
    return [pcm[i : i + size] for i in range(0, len(pcm), size)]


async def play(sink: AudioSink, turn_id: int, pcm: bytes, rate: int) -> bool:
    """Send `pcm` as `audio_response` chunks; chunk i goes out at most LEAD_MS before its play time. A pause
    (`paused{n}`) shifts the play times of the chunks not yet sent by its length: the answer goes on where it
    stopped, with the same lead."""
    start = time.monotonic()
    for seq, chunk in enumerate(chunks(pcm, rate)):
        while True:
            delay = start + (seq * CHUNK_MS - LEAD_MS) / 1000 - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            paused_s = await sink.wait_while_paused(turn_id)
            if not paused_s:
                break
            start += paused_s
        event = AudioResponse(turn_id=turn_id, seq=seq, data=pcm_to_b64(chunk), sample_rate=rate)
        if not await sink.emit(turn_id, event):
            return False
        if seq == 0:
            sink.bot_audio_started(turn_id)
    return True
