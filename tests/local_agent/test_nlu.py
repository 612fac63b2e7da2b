"""The NLU on transcripts it was not written for: slots without carrier words, variants and synonyms, prices,
product numbers, unseen carrier phrases, and a confidence that falls below the fallback threshold when it should."""

import pytest

from local_agent.agent import load_agent
from local_agent.dialogue import AgentDialogue, SessionState
from local_agent.lexicon import plural, singular, variants
from local_agent.nlu import FALLBACK_THRESHOLD, Matcher, clean

MATCHER = Matcher(load_agent())


@pytest.mark.parametrize(
    ("text", "intent", "params"),
    [
        ("i need perfume under one hundred dollars", "search_products", {"query": "fragrances", "max_price": 100}),
        ("cheaper than thirty dollars", "search_products", {"max_price": 30}),
        ("do you sell lipstick", "search_products", {"query": "lipstick"}),
        ("can you show me some hand bags", "search_products", {"query": "womens-bags"}),
        ("i'm after a sofa for less than 500 bucks", "search_products", {"query": "furniture", "max_price": 500}),
        ("any phones below two hundred", "search_products", {"query": "smartphones", "max_price": 200}),
        ("Show me laptops under $2,000.", "search_products", {"query": "laptops", "max_price": 2000}),
        ("Do you have any Sun Glasses?", "search_products", {"query": "sunglasses"}),
        ("got any basketballs", "search_products", {"query": "basketball"}),
        ("Tell me about Product 7.", "product_details", {"product_id": 7}),
        ("how much does item forty two cost", "product_details", {"product_id": 42}),
        ("hey there", "greeting", {}),
        ("ok bye then", "goodbye", {}),
        ("what is the weather like in paris", "fallback", {}),
        ("can you recommend a good movie", "fallback", {}),
    ],
)
def test_intents_and_slots(text: str, intent: str, params: dict[str, object]) -> None:
    match = MATCHER.match(text)
    assert (match.intent, match.parameters) == (intent, params)


def test_confidence_means_something() -> None:
    known = MATCHER.match("could you find me sunglasses please")
    unknown = MATCHER.match("could you find me a flux capacitor")
    garbled = MATCHER.match("capital france weather")
    assert known.confidence >= 0.9
    assert FALLBACK_THRESHOLD <= unknown.confidence < known.confidence
    assert unknown.parameters == {"query": "flux capacitor"}
    assert garbled.intent == "fallback" and not garbled.parameters


def test_transcript_cleaning() -> None:
    lexicon = load_agent().lexicon
    assert clean("Show me laptops under $2,000.", lexicon) == "show me laptops under 2000 dollars"
    assert clean("Tell me about Product seven!", lexicon) == "tell me about product 7"
    assert clean("Any Sun Glasses or hand-bags?", lexicon) == "any sunglasses or handbags"


def test_variants_of_a_term() -> None:
    assert singular("watches") == "watch" and singular("accessories") == "accessory" and singular("glass") == "glass"
    assert plural("accessory") == "accessories" and plural("watch") == "watches"
    assert variants("sun glasses") == ["sun glasses", "sun glass", "sunglasses", "sunglass"]


def test_answer_names_what_was_searched_and_refinement_keeps_the_product() -> None:
    dialogue = AgentDialogue(load_agent())
    state = SessionState()
    first = dialogue.query(state, "i need perfume under one hundred dollars")
    assert first.tool_inputs == {"query": "fragrances", "max_price": 100, "limit": 5}
    answer = dialogue.tool_result(state, {"products": [{"id": 1, "title": "Chanel", "price": 90}], "total": 1}, None)
    assert answer.startswith("I found 1 results for fragrances under 100 dollars")
    assert "i need" not in answer.lower()
    assert state.last_results == [{"id": 1, "title": "Chanel"}]
    refined = dialogue.query(state, "cheaper than thirty dollars")
    assert refined.tool_inputs == {"query": "fragrances", "max_price": 30, "limit": 5}
