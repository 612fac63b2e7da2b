"""Audio that is not a clean request, with the default (Whisper) engine: silence, a cough, music, a minute of
speech, clipping, a wrong declared rate. Each turn ends with a final answer; none that is not a request leads
to a confident search."""

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from harness.speech import utterance
from shared.audio import array_to_pcm
from tests.local_agent.cx import intent_of, stream_turn, tool_calls

RATE = 16000


def _silence() -> np.ndarray:
    return np.zeros(RATE * 3, np.int16)


def _cough() -> np.ndarray:
    """Two short bursts of shaped noise, like a cough, between silences."""
    rng = np.random.default_rng(7)
    burst = rng.standard_normal(RATE * 25 // 100) * np.exp(-np.linspace(0, 6, RATE * 25 // 100)) * 12000
    gap = np.zeros(RATE // 5)
    return np.concatenate([gap, burst, gap, burst * 0.7, np.zeros(RATE)]).astype(np.int16)


def _music() -> np.ndarray:
    """Four seconds of chords: three sines per half second, changing."""
    t = np.arange(RATE // 2) / RATE
    chords = [(261.6, 329.6, 392.0), (220.0, 277.2, 329.6), (196.0, 246.9, 293.7), (174.6, 220.0, 261.6)] * 2
    parts = [sum(np.sin(2 * np.pi * f * t) for f in chord) * 6000 for chord in chords]
    return np.concatenate(parts).astype(np.int16)


BAD_INPUTS: dict[str, Callable[[], np.ndarray]] = {"silence": _silence, "cough": _cough, "music": _music}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
async def test_noise_is_not_a_request(client: Any, session: str, name: str) -> None:
    turn = await stream_turn(client, session, array_to_pcm(BAD_INPUTS[name]()), single=False)
    assert turn.final is not None
    assert not tool_calls(turn.final), (turn.finals, intent_of(turn.final))


async def test_a_minute_of_speech_is_bounded(client: Any, session: str) -> None:
    speech = utterance("show me running shoes and tell me about product seven and then", RATE, "en+m3", 0, 300)
    minute = np.tile(speech, RATE * 60 // speech.size + 1)[: RATE * 60]
    turn = await stream_turn(client, session, array_to_pcm(minute), single=False)
    assert turn.final is not None and turn.finals and turn.finals[0]
    assert intent_of(turn.final)


async def test_clipped_speech_is_still_understood(client: Any, session: str) -> None:
    speech = utterance("tell me about product seven", RATE, "en+m3").astype(np.int32) * 12
    turn = await stream_turn(client, session, array_to_pcm(np.clip(speech, -32768, 32767).astype(np.int16)))
    assert intent_of(turn.final) == "product_details"


async def test_audio_at_a_wrong_declared_rate_ends_with_an_answer(client: Any, session: str) -> None:
    speech = utterance("show me sunglasses", RATE, "en+m3")
    turn = await stream_turn(client, session, array_to_pcm(speech), single=False, rate=8000)
    assert turn.final is not None
    assert intent_of(turn.final)
