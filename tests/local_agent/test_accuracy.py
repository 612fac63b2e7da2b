"""Accuracy floors on a fixed subset of the evaluation (bench/eval): every sixth request, clean, in the voices the
evaluation gives it (espeak-ng and flite, never the agent's own), streamed into the agent as the dialog worker
does. Intent and parameters must both be right; the floors sit below what `make eval` measures."""

from typing import Any

import pytest

from bench.eval.conditions import CONDITIONS, make_clip
from bench.eval.dataset import REQUESTS
from bench.eval.scoring import Outcome
from bench.eval.voices import VOICES, flite_binary, speak
from shared.audio import array_to_pcm
from tests.local_agent.cx import intent_of, stream_turn
from tests.support.ci import missing_tool

SUBSET = [(index, REQUESTS[index]) for index in range(0, len(REQUESTS), 6)]
FLOORS = {"whisper": 0.8, "pocketsphinx": 0.25}


@pytest.mark.parametrize("local_cx", ["whisper", "pocketsphinx"], indirect=True)
async def test_accuracy_floor_on_the_fixed_subset(client: Any, session: str, local_cx: Any) -> None:
    if flite_binary() is None:
        missing_tool("flite is not installed (Debian package `flite`; .ci/run installs it)")
    right = []
    for index, request in SUBSET:
        voice = VOICES[index % len(VOICES)]
        clip = make_clip(speak(voice, request.text), CONDITIONS[0], seed=index)
        turn = await stream_turn(client, f"{session}-{index}", array_to_pcm(clip.samples))
        params = dict(turn.final.query_result.parameters)
        outcome = Outcome(
            local_cx.service.listener.name, "clean", voice.label, request.text, request.intent,
            dict(request.parameters), intent_of(turn.final), params, turn.finals[0] if turn.finals else "", None, None,
        )  # fmt: skip
        right.append((outcome.both_right, request.text, outcome.transcript))
    share = sum(ok for ok, _, _ in right) / len(right)
    assert share >= FLOORS[local_cx.service.listener.name], [r for r in right if not r[0]]
