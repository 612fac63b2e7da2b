"""The masking rule for stored transcripts (shared/convlog/redact.py, docs/conversation_log.md)."""

import pytest

from shared.convlog.records import ToolCall, TurnRecord
from shared.convlog.redact import mask, mask_turn


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("call me at +1 (555) 123-4567 please", "call me at +# (###) ###-#### please"),
        ("my number is 0171 2345678", "my number is #### #######"),
        ("5551234", "#######"),
        ("card 4111 1111 1111 1111 exp 12/27", "card #### #### #### #### exp 12/27"),
        ("4111-1111-1111-1111", "####-####-####-####"),
        ("my number is five five five one two three four", "my number is # # # # # # #"),
        ("Oh Seven Seven One, Two Three Four Five", "# # # #, # # # #"),
    ],
)
def test_phone_and_card_numbers_are_masked(text: str, masked: str) -> None:
    assert mask(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "show me running shoes under 50 dollars",
        "tell me about product 12",
        "how much is product 194",
        "anything between 1,299.99 and 2,000",
        "one two three",  # too short for a phone number
        "six digits 123456",
        "tell me about product twenty three",
    ],
)
def test_shopping_numbers_are_kept(text: str) -> None:
    assert mask(text) == text


def test_a_turn_record_has_every_free_text_masked() -> None:
    record = TurnRecord(
        session_id="a" * 32,
        at=1.0,
        turn_id=1,
        turn_key="k",
        input="speech",
        outcome="answered",
        transcript="call 555 123 4567",
        parameters={"query": "555 123 4567", "nested": ["4111111111111111"], "max_price": 50},
        tool_calls=[ToolCall(tool="search_products", arguments={"query": "555-123-4567"}, product_ids=[5551234])],
        answer="I cannot call 555 123 4567",
    )
    masked = mask_turn(record)
    assert masked.transcript == "call ### ### ####"
    assert masked.parameters == {"query": "### ### ####", "nested": ["################"], "max_price": 50}
    assert masked.tool_calls[0].arguments == {"query": "###-###-####"}
    assert masked.tool_calls[0].product_ids == [5551234]  # ids are numbers, not text said by anyone
    assert masked.answer == "I cannot call ### ### ####"
