"""What the service needs of a speech recogniser (docs/local_agent.md, "Recognition"): one `Recognition` per
streamed utterance, opened by the engine's `Listener`. Implementations are in local_agent/listeners.py."""

from typing import NamedTuple, Protocol


class Heard(NamedTuple):
    """A final transcript and the engine's confidence in it (0..1)."""

    text: str
    confidence: float


class Recognition(Protocol):
    """One utterance: 20 ms frames at 16 kHz in, interim hypotheses and the end of speech out, then the final.

    `feed` is cheap and runs on the shared executor; `finish` may be a neural pass and runs in the bounded
    recognition pool (local_agent/pool.py). Neither is thread-safe: one task drives a recognition at a time."""

    @property
    def speech_ended(self) -> bool: ...

    def feed(self, frames: list[bytes]) -> str: ...

    def finish(self) -> Heard: ...


class Listener(Protocol):
    """A recognition engine, loaded once at start."""

    name: str

    def open(self) -> Recognition: ...
