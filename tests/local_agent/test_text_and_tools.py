"""Text queries for every intent, number words, and the tool-call round trip on the same session."""

from typing import Any

import pytest

from harness.speech import fresh_speech_pcm
from tests.local_agent.cx import AGENT, intent_of, stream_turn, text_query, texts, tool_calls, tool_result

SHOES = {
    "products": [
        {"id": 7, "title": "Nike Air Jordan", "price": 49.99, "category": "mens-shoes"},
        {"id": 9, "title": "Puma Runner", "price": 35, "category": "mens-shoes"},
    ],
    "total": 2,
}


@pytest.mark.parametrize(
    ("text", "intent", "params"),
    [
        ("Show me running shoes under fifty dollars", "search_products", {"query": "running shoes", "max_price": 50}),
        ("find me laptops under two thousand dollars", "search_products", {"query": "laptops", "max_price": 2000}),
        ("tell me about product twelve", "product_details", {"product_id": 12}),
        ("How much is product three?", "product_details", {"product_id": 3}),
        ("hello", "greeting", {}),
        ("what can you do", "greeting", {}),
        ("thank you, goodbye", "goodbye", {}),
        ("what is the capital of peru", "fallback", {}),
    ],
)
async def test_text_intents(client: Any, session: str, text: str, intent: str, params: dict[str, Any]) -> None:
    response = await text_query(client, session, text)
    assert intent_of(response) == intent
    assert response.query_result.text == text
    assert dict(response.query_result.parameters) == params
    if intent.endswith("products") or intent == "product_details":
        assert tool_calls(response) and not response.output_audio
    else:
        assert texts(response) and len(response.output_audio) > 8000


async def test_fallback_gives_a_spoken_hint(client: Any, session: str) -> None:
    response = await text_query(client, session, "sing me a song about the sea", rate=24000)
    assert intent_of(response) == "fallback"
    assert "running shoes" in texts(response)
    assert response.output_audio_config.sample_rate_hertz == 24000


async def test_search_round_trip_by_speech(client: Any, session: str) -> None:
    turn = await stream_turn(client, session, fresh_speech_pcm("show me running shoes under fifty dollars", "en+klatt"))
    (call,) = tool_calls(turn.final)
    assert call.tool == f"{AGENT}/tools/search_products"
    assert call.action == "search_products"
    assert dict(call.input_parameters) == {"query": "running shoes", "max_price": 50, "limit": 5}
    answer = await tool_result(client, session, "search_products", SHOES)
    assert "Nike Air Jordan for 49 dollars 99" in texts(answer)
    assert "under 50 dollars" in texts(answer)
    assert len(answer.output_audio) > 16000
    assert answer.query_result.parameters["query"] == "running shoes"


async def test_get_product_round_trip(client: Any, session: str) -> None:
    response = await text_query(client, session, "how much is product seven")
    assert dict(tool_calls(response)[0].input_parameters) == {"product_id": 7}
    product = {"id": 7, "title": "Nike Air Jordan", "price": 120, "description": "Iconic. Comfortable."}
    answer = await tool_result(client, session, "get_product", product)
    assert texts(answer) == "Nike Air Jordan costs 120 dollars. Iconic."


async def test_tool_error_gets_an_apology(client: Any, session: str) -> None:
    await text_query(client, session, "show me sunglasses")
    answer = await tool_result(client, session, "search_products", None, error="catalog unavailable")
    assert texts(answer).startswith("Sorry")
    assert answer.output_audio


async def test_no_results_is_said(client: Any, session: str) -> None:
    await text_query(client, session, "show me sofas under five dollars")
    answer = await tool_result(client, session, "search_products", {"products": [], "total": 0})
    assert texts(answer) == "Sorry, I could not find any furniture under 5 dollars."
