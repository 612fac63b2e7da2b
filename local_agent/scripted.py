"""Scripted fast mode (VOICECHAT_LOCAL_CX_SCRIPTED=1): no ASR, a fixed `search_products` turn, cached audio.

Same protocol as the real agent with near-zero processing time, so pipeline benchmarks measure the pipeline.
"""

import functools

from local_agent import tts
from local_agent.agent import Agent
from local_agent.dialogue import Outcome, SessionState
from local_agent.nlu import Match
from shared.audio import array_to_pcm

TRANSCRIPT = "show me shoes"
QUERY = "shoes"
ANSWER = "Here are some shoes I found for you."


def outcome(agent: Agent, state: SessionState) -> Outcome:
    """The fixed turn: intent `search_products`, tool call with query "shoes"."""
    intent = agent.intent("search_products")
    params = {"query": QUERY}
    state.parameters.update(params)
    state.pending_intent, state.pending_tool, state.pending_parameters = intent.display_name, intent.tool, params
    match = Match(intent.display_name, 1.0, dict(params), intent)
    return Outcome(match, state.parameters, tool=intent.tool, tool_inputs={**intent.tool_defaults, **params})


@functools.lru_cache(maxsize=16)
def answer_audio(rate: int, voice: str) -> bytes:
    """The pre-synthesised (~2 s) answer, LINEAR16 at `rate`."""
    return array_to_pcm(tts.synthesize(ANSWER, rate, voice))
