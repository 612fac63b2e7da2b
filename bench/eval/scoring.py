"""Scores of one evaluated turn and of a group of turns: intent, parameters, word error rate, latency."""

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from local_agent.nlu import clean


@dataclass(frozen=True)
class Outcome:
    engine: str
    condition: str
    voice: str
    text: str
    intent: str  # expected
    parameters: dict[str, Any]  # expected
    got_intent: str | None
    got_parameters: dict[str, Any]
    transcript: str
    latency_s: float | None  # final transcript after the true end of speech
    after_end_event_s: float | None  # final transcript after the gateway's `speech_ended`
    error: str | None = None

    @property
    def intent_right(self) -> bool:
        return self.got_intent == self.intent

    @property
    def parameters_right(self) -> bool:
        return _plain(self.got_parameters) == _plain(self.parameters)

    @property
    def both_right(self) -> bool:
        return self.intent_right and self.parameters_right


def _plain(params: dict[str, Any]) -> dict[str, Any]:
    """CX numbers arrive as floats: 50.0 -> 50."""
    return {k: int(v) if isinstance(v, float) and v.is_integer() else v for k, v in params.items()}


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(edits, reference words) after the NLU's cleaning on both sides ("fifty" and "50" are the same word)."""
    ref, hyp = clean(reference).split(), clean(hypothesis).split()
    previous = list(range(len(hyp) + 1))
    for i, word in enumerate(ref, 1):
        current = [i]
        for j, other in enumerate(hyp, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (word != other)))
        previous = current
    return previous[-1], len(ref)


def _percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summarise(outcomes: Iterable[Outcome]) -> dict[str, Any]:
    items = list(outcomes)
    count = len(items) or 1
    edits = words = 0
    for item in items:
        e, w = word_errors(item.text, item.transcript)
        edits, words = edits + e, words + w
    latencies = [i.latency_s for i in items if i.latency_s is not None]
    after_end = [i.after_end_event_s for i in items if i.after_end_event_s is not None]
    return {
        "turns": len(items),
        "intent_accuracy": sum(i.intent_right for i in items) / count,
        "parameter_accuracy": sum(i.parameters_right for i in items) / count,
        "both_right": sum(i.both_right for i in items) / count,
        "wer": edits / (words or 1),
        "latency_p50_s": statistics.median(latencies) if latencies else None,
        "latency_p90_s": _percentile(latencies, 0.9),
        "after_speech_ended_p50_s": statistics.median(after_end) if after_end else None,
        "no_answer": sum(i.got_intent is None for i in items),
    }
