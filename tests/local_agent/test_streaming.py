"""Streamed speech, with both recognition engines: partial transcripts, END_OF_SINGLE_UTTERANCE, FINAL response
with intent and audio; the final transcript normalised for the NLU ("product twelve" -> "product 12")."""

from typing import Any

import pytest

from harness.speech import fresh_speech_pcm, speech_pcm
from shared.agent_contract import AGENT_TIME_KEY
from tests.local_agent.cx import intent_of, stream_turn, texts, tool_calls

pytestmark = pytest.mark.parametrize("local_cx", ["whisper", "pocketsphinx"], indirect=True)


async def test_partials_then_end_of_utterance_then_final(client: Any, session: str) -> None:
    pcm = speech_pcm("tell me about product twelve", voice="en-us+f2", tail_silence_ms=1500)
    turn = await stream_turn(client, session, pcm, single=True, partial=True)
    assert turn.partials, "partial transcripts expected"
    assert turn.end_of_utterance
    assert turn.kinds.index("END_OF_SINGLE_UTTERANCE") > turn.kinds.index("TRANSCRIPT")
    assert turn.finals == ["tell me about product 12"]
    result = turn.final.query_result
    assert result.transcript == "tell me about product 12"
    assert intent_of(turn.final) == "product_details"
    assert result.match.confidence > 0.5
    assert result.parameters["product_id"] == 12
    assert tool_calls(turn.final)[0].action == "get_product"
    assert not turn.final.output_audio
    assert result.diagnostic_info[AGENT_TIME_KEY] >= 0


async def test_no_partials_without_enable_partial_response(client: Any, session: str) -> None:
    pcm = speech_pcm("hello", voice="en+klatt")
    turn = await stream_turn(client, session, pcm, single=False, partial=False)
    assert not turn.partials
    assert not turn.end_of_utterance
    assert turn.finals == ["hello"]
    assert intent_of(turn.final) == "greeting"
    assert "find products" in texts(turn.final)
    audio = turn.final.output_audio
    assert len(audio) > 16000 and not audio.startswith(b"RIFF")
    assert turn.final.output_audio_config.sample_rate_hertz == 16000


MARKETPLACE = [
    ("show me running shoes under fifty dollars", "en-gb-x-rp", "search_products"),
    ("tell me about product twelve", "en-us+f2", "product_details"),
    ("how much is product three", "en-gb-x-rp", "product_details"),
    ("hello", "en+klatt", "greeting"),
    ("what can you do", "en+m3", "greeting"),
    ("do you have sunglasses", "en-gb-x-rp", "search_products"),
    ("what is the weather today", "en+klatt", "fallback"),
]


async def test_marketplace_utterances_by_speech(client: Any, session: str) -> None:
    right = 0
    for text, voice, intent in MARKETPLACE:
        turn = await stream_turn(client, session, speech_pcm(text, voice=voice), single=True)
        right += intent_of(turn.final) == intent
    assert right >= len(MARKETPLACE) - 1


SPOKEN_NUMBERS = [
    ("show me running shoes under fifty dollars", "en+klatt", {"query": "running shoes", "max_price": 50}),
    ("show me laptops under two thousand dollars", "en+klatt", {"query": "laptops", "max_price": 2000}),
    ("how much is product three", "en-gb-x-rp", {"product_id": 3}),
]


async def test_spoken_numbers_become_numbers(client: Any, session: str) -> None:
    """Two of the three right, with either engine (each engine misreads one of these voices now and then)."""
    heard: list[tuple[bool, list[str]]] = []
    for index, (text, voice, params) in enumerate(SPOKEN_NUMBERS):
        turn = await stream_turn(client, f"{session}-{index}", fresh_speech_pcm(text, voice))
        heard.append((dict(turn.final.query_result.parameters) == params, turn.finals))
    assert sum(ok for ok, _ in heard) >= len(SPOKEN_NUMBERS) - 1, heard
