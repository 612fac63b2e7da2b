"""Scripted fast mode (VOICECHAT_LOCAL_CX_SCRIPTED=1): no ASR, a fixed `search_products` turn, cached audio.

Like a streaming recogniser, it reports a first word as an interim hypothesis once it has had half a second of
audio, and the fixed transcript as the final: speech over an answer is then confirmed as an interruption by words
heard, as with a real recogniser (dialog_worker/turns.py), not only by its length.

Same protocol as the real agent with near-zero processing time, so pipeline benchmarks measure the pipeline.
It is the second implementation of `Dialogue` (local_agent/dialogue.py) and of `Listener`
(local_agent/listening.py), chosen once at start by local_agent/server.py.
"""

from typing import Any

from local_agent.agent import Agent
from local_agent.dialogue import Outcome, SessionState
from local_agent.listening import Heard, Recognition
from local_agent.nlu import Match

TRANSCRIPT = "show me shoes"
INTERIM = "show"
INTERIM_AFTER_FRAMES = 25  # 500 ms of audio, pre-roll included
QUERY = "shoes"
ANSWER = "Here are some shoes I found for you."


class ScriptedDialogue:
    def __init__(self, agent: Agent) -> None:
        self.agent = agent

    def query(self, state: SessionState, text: str) -> Outcome:
        """The fixed turn, whatever was said: intent `search_products`, tool call with query "shoes"."""
        intent = self.agent.intent("search_products")
        params = {"query": QUERY}
        state.parameters.update(params)
        state.pending_intent, state.pending_tool, state.pending_parameters = intent.display_name, intent.tool, params
        match = Match(intent.display_name, 1.0, dict(params), intent)
        return Outcome(match, state.parameters, tool=intent.tool, tool_inputs={**intent.tool_defaults, **params})

    def tool_result(self, state: SessionState, output: dict[str, Any] | None, error: str | None) -> str:
        state.pending_intent = state.pending_tool = None
        return ANSWER


class ScriptedListener:
    """Hears the fixed transcript once the client half-closes; never ends the utterance itself."""

    name = "scripted"

    def open(self) -> Recognition:
        return _ScriptedRecognition()


class _ScriptedRecognition:
    speech_ended = False

    def __init__(self) -> None:
        self._frames = 0

    def feed(self, frames: list[bytes]) -> str:
        self._frames += len(frames)
        return INTERIM if self._frames >= INTERIM_AFTER_FRAMES else ""

    def finish(self) -> Heard:
        return Heard(TRANSCRIPT, 1.0)
