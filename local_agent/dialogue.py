"""The agent's conversation logic: a query becomes an intent match plus a tool call or a reply; a tool result
becomes the spoken answer, rendered from the intent's response templates.

`Dialogue` is what the service needs; `AgentDialogue` is the real one, the scripted benchmark mode
(local_agent/scripted.py) is the other, chosen once at start (docs/local_agent.md).
"""

from dataclasses import dataclass, field
from typing import Any, Protocol

from local_agent.agent import Agent, Intent
from local_agent.nlu import Match, Matcher

TOP_ITEMS = 3


@dataclass
class SessionState:
    """What the agent remembers of one session path: its parameters and the tool call it waits for."""

    parameters: dict[str, Any] = field(default_factory=dict)
    pending_intent: str | None = None
    pending_tool: str | None = None
    pending_parameters: dict[str, Any] = field(default_factory=dict)
    last_results: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Outcome:
    match: Match
    parameters: dict[str, Any]
    reply: str | None = None
    tool: str | None = None
    tool_inputs: dict[str, Any] = field(default_factory=dict)


def spoken_price(value: Any) -> str:
    """49.99 -> "49 dollars 99" (espeak-ng reads "$49.99" as "dollar forty nine point nine nine")."""
    try:
        cents = round(float(value) * 100)
    except (TypeError, ValueError):
        return str(value)
    dollars, rest = divmod(cents, 100)
    return f"{dollars} dollars" + (f" {rest:02d}" if rest else "")


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _first_sentence(text: str) -> str:
    head, dot, _ = text.partition(". ")
    return head + "." if dot else text


def spoken_value(value: Any) -> str:
    """A parameter as the answer says it: "womens-bags" -> "womens bags"."""
    return str(value).replace("-", " ")


class Dialogue(Protocol):
    def query(self, state: SessionState, text: str) -> Outcome:
        """Match `text` and update `state`: a reply, or a tool call the state then waits for."""
        ...

    def tool_result(self, state: SessionState, output: dict[str, Any] | None, error: str | None) -> str:
        """The spoken answer to the pending tool call (an apology when the tool failed)."""
        ...


class AgentDialogue:
    """The agent file's intents, answered from the NLU's match; a required parameter the query leaves out is taken
    from the conversation so far ("cheaper than thirty dollars" after a search refines it)."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.matcher = Matcher(agent)

    def query(self, state: SessionState, text: str) -> Outcome:
        match = self.matcher.match(text)
        intent = match.intent_def
        if intent is None:
            return Outcome(match, state.parameters, reply=self.agent.spec.fallback.response)
        params = dict(match.parameters)
        if params:  # a refinement ("cheaper than thirty dollars") keeps what it does not change
            params = {name: state.parameters[name] for name in intent.required if name in state.parameters} | params
        state.parameters.update(params)
        if any(name not in params for name in intent.required):
            return Outcome(match, state.parameters, reply=intent.responses["missing"])
        if intent.tool is None:
            return Outcome(match, state.parameters, reply=intent.responses["found"])
        inputs = self.agent.spec.tools[intent.tool].inputs
        tool_inputs = {**intent.tool_defaults, **{k: v for k, v in params.items() if k in inputs}}
        state.pending_intent, state.pending_tool, state.pending_parameters = intent.display_name, intent.tool, params
        return Outcome(match, state.parameters, tool=intent.tool, tool_inputs=tool_inputs)

    def tool_result(self, state: SessionState, output: dict[str, Any] | None, error: str | None) -> str:
        intent = self.agent.intent(state.pending_intent or "")
        state.pending_intent = state.pending_tool = None
        if error is not None or output is None:
            return intent.responses["error"]
        if intent.tool == "search_products":
            return self._search_answer(intent, state, output)
        product = output.get("product", output)
        if not isinstance(product, dict) or not product.get("title"):
            return intent.responses["error"]
        description = _first_sentence(str(product.get("description", "")))
        values = {**product, "price": spoken_price(product.get("price")), "description": description}
        return intent.responses["found"].format_map(_Defaults(values))

    def _search_answer(self, intent: Intent, state: SessionState, output: dict[str, Any]) -> str:
        params = state.pending_parameters
        products = [p for p in output.get("products", []) if isinstance(p, dict)]
        state.last_results = [{"id": p.get("id"), "title": p.get("title")} for p in products[:TOP_ITEMS]]
        price_clause = ""
        if params.get("max_price") is not None:
            price_clause = intent.responses["price_clause"].format(max_price=params["max_price"])
        values = {"query": spoken_value(params.get("query", "that")), "price_clause": price_clause}
        if not products:
            return intent.responses["empty"].format_map(_Defaults(values))
        item = intent.responses["item"]
        items = [item.format_map(_Defaults({**p, "price": spoken_price(p.get("price"))})) for p in products[:TOP_ITEMS]]
        values |= {"total": output.get("total", len(products)), "items": _join(items)}
        return intent.responses["found"].format_map(_Defaults(values))


class _Defaults(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""
