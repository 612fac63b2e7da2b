"""Noisy audio over the WebSocket through the real stack (gateway, VAD worker of each engine, dialog worker): speech
in noise starts a turn near its true onset; with Silero, noise-only audio starts none. Fixed clips from the noise set
(bench/noise/corpus.py, `eval` voices and seeds); the figures over the whole set are in `make bench` (noise)."""

import asyncio
from collections.abc import Iterator

import aiohttp
import numpy as np
import pytest

from bench.noise import corpus
from harness.procs import wait_http
from harness.speech import chunks
from harness.stack import Stack, running_stack
from tests.integration.conftest import SPEECH_STACK
from voice_client.recorder import VoiceClient, connect

# A speech start may be reported up to one engine frame before the first loud sample (the noise around it), and
# is decided within a start window after it.
EARLY_MS, LATE_MS = 100, 250


@pytest.fixture(scope="module", params=["webrtc", "silero"])
def engine_stack(request: pytest.FixtureRequest) -> Iterator[tuple[str, Stack]]:
    with running_stack(SPEECH_STACK, {"VOICECHAT_VAD_ENGINE": request.param}) as running:
        wait_http(running.gateway.base_url + "/readyz")
        yield request.param, running


def clips(snr: int) -> list[corpus.Clip]:
    rng = np.random.default_rng(5)
    return [
        corpus.mix(rng, corpus.noise(name, corpus.EVAL.name, 12.0), name, snr, voice, text)
        for name, voice, text in (
            ("street", corpus.EVAL.voices[0], corpus.EVAL.texts[0]),
            ("pink", corpus.EVAL.voices[1], corpus.EVAL.texts[1]),
        )
    ]


async def stream(client: VoiceClient, pcm: bytes) -> None:
    await client.stream(chunks(pcm))
    await client.stream(chunks(bytes(16000)))  # half a second of silence after it


async def test_speech_in_noise_starts_a_turn_at_its_onset(engine_stack: tuple[str, Stack]) -> None:
    engine, stack = engine_stack
    snr = 10 if engine == "silero" else 20  # webrtcvad loses speech in noise below about 20 dB (docs/benchmarks.md)
    async with aiohttp.ClientSession() as http:
        sessions = [(await connect(http, stack.gateway.base_url), clip) for clip in clips(snr)]
        await asyncio.gather(*(stream(client, corpus.to_pcm(clip.samples)) for client, clip in sessions))
        for client, clip in sessions:
            started = await client.wait_for("speech_started", timeout=5)
            assert clip.onset_ms - EARLY_MS <= started["offset_ms"] <= clip.onset_ms + LATE_MS, (clip.noise, started)
            assert started["turn_id"] == 1
            await client.close()


# What each engine does with noise alone: Silero starts no turn on any of these; webrtcvad takes steady noise at
# this level for speech (the measured weakness the Silero engine is for; docs/benchmarks.md).
NOISE_ALONE = ("pink", "street", "cough", "door", "music", "keyboard")
STARTS_ON = {"silero": set[str](), "webrtc": {"pink", "street"}}


async def test_noise_alone_starts_a_turn_only_where_the_engine_is_known_to_hear_speech(
    engine_stack: tuple[str, Stack],
) -> None:
    engine, stack = engine_stack
    kinds = NOISE_ALONE if engine == "silero" else tuple(sorted(STARTS_ON["webrtc"]))
    async with aiohttp.ClientSession() as http:
        sessions = [(await connect(http, stack.gateway.base_url), kind) for kind in kinds]
        sounds = {kind: corpus.to_pcm(corpus.noise(kind, corpus.EVAL.name, 6.0)) for kind in kinds}
        await asyncio.gather(*(stream(client, sounds[kind]) for client, kind in sessions))
        await asyncio.sleep(0.5)
        started = {kind for client, kind in sessions if client.of_type("speech_started")}
        for client, _ in sessions:
            await client.close()
    assert started == STARTS_ON[engine]
