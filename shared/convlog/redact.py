"""Masking of numbers that look like phone or card numbers in stored text (`VOICECHAT_CONVLOG_REDACT_DIGITS`).

The rule (docs/conversation_log.md): a run of at least seven digits, written as digits (spaces, hyphens, dots,
slashes and brackets between them, a leading `+`) or spoken as digit words ("five five five one two ..."), is a
phone number (7-15 digits) or a card number (13-19): each digit becomes `#`, the separators stay. Prices, product
numbers and quantities have fewer digits and are kept, so a shopping transcript stays readable.
"""

import re
from typing import Any

import msgspec

from shared.convlog.records import TurnRecord

MIN_DIGITS = 7
MASK = "#"
_MORE = MIN_DIGITS - 1
_DIGITS = re.compile(rf"\+?\d(?:[ \-./()]{{0,3}}\d){{{_MORE},}}")
_WORD = r"(?:zero|oh|one|two|three|four|five|six|seven|eight|nine)"
_WORDS = re.compile(rf"\b{_WORD}(?:[ ,\-]{{1,3}}{_WORD}){{{_MORE},}}\b", re.IGNORECASE)
_ONE_WORD = re.compile(rf"\b{_WORD}\b", re.IGNORECASE)


def _mask_digits(match: re.Match[str]) -> str:
    return re.sub(r"\d", MASK, match.group(0))


def _mask_words(match: re.Match[str]) -> str:
    return _ONE_WORD.sub(MASK, match.group(0))


def mask(text: str) -> str:
    """`text` with every phone- or card-like digit run masked."""
    return _WORDS.sub(_mask_words, _DIGITS.sub(_mask_digits, text))


def mask_values(value: Any) -> Any:
    """The same masking applied to every string inside JSON-like values (parameters, tool arguments)."""
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {key: mask_values(item) for key, item in value.items()}
    if isinstance(value, list):
        return [mask_values(item) for item in value]
    return value


def mask_turn(record: TurnRecord) -> TurnRecord:
    """A turn record with its free text masked: transcript, parameters, tool arguments and the answer."""
    return msgspec.structs.replace(
        record,
        transcript=mask(record.transcript),
        parameters=mask_values(record.parameters),
        answer=mask(record.answer),
        tool_calls=[msgspec.structs.replace(call, arguments=mask_values(call.arguments)) for call in record.tool_calls],
    )
