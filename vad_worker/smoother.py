"""Pure hysteresis smoother over per-frame voice decisions (no I/O; audio time passed in), as a transition table.

Speech starts once `start_ms` of voiced frames fall within the last `start_window_ms`; the reported start is the
first voiced frame of that window. Speech ends after `end_ms` of consecutive unvoiced frames; the reported end is
where that silence began. The events reach clients as `speech_started` / `speech_ended` (docs/protocol.md).

`TABLE` is the whole behaviour, in the style of h11's `_state.py`: for each phase and input, the bookkeeping to
do, then a guard; when the guard holds, the events to emit and the next phase, otherwise the phase to stay in.
A frame whose audio time is not after the previous frame's is an illegal input in every phase: it changes nothing
and comes back as an `IllegalInput` event, which the worker logs and counts.
"""

from collections import deque
from dataclasses import dataclass
from enum import Enum


class Phase(Enum):
    SILENCE = "silence"  # no voiced frame in the start window
    ONSET = "onset"  # some voiced frames in the start window, not yet enough
    SPEECH = "speech"  # speech reported, the last frame voiced
    TRAILING = "trailing"  # speech reported, followed by unvoiced frames (fewer than `end_ms`)


class Input(Enum):
    VOICED = "voiced"
    UNVOICED = "unvoiced"
    STALE = "stale"  # a frame not after the previous one (replayed or reordered audio)


class Action(Enum):
    SLIDE = "slide"  # push the frame into the start window
    CLEAR_WINDOW = "clear_window"
    MARK_SILENCE = "mark_silence"  # this frame begins the trailing silence
    COUNT_SILENCE = "count_silence"
    RESET_SILENCE = "reset_silence"
    EMIT_START = "emit_start"
    EMIT_END = "emit_end"


class Guard(Enum):
    ALWAYS = "always"
    START_REACHED = "start_reached"  # voiced time in the window >= start_ms
    WINDOW_SILENT = "window_silent"  # no voiced frame left in the window
    END_REACHED = "end_reached"  # trailing silence >= end_ms


@dataclass(frozen=True, slots=True)
class Rule:
    do: tuple[Action, ...]
    when: Guard
    emit: tuple[Action, ...]
    then: Phase
    otherwise: Phase


P, In, A, G = Phase, Input, Action, Guard
TABLE: dict[tuple[Phase, Input], Rule] = {
    (P.SILENCE, In.VOICED): Rule((A.SLIDE,), G.START_REACHED, (A.EMIT_START, A.CLEAR_WINDOW), P.SPEECH, P.ONSET),
    (P.SILENCE, In.UNVOICED): Rule((A.SLIDE,), G.ALWAYS, (), P.SILENCE, P.SILENCE),
    (P.ONSET, In.VOICED): Rule((A.SLIDE,), G.START_REACHED, (A.EMIT_START, A.CLEAR_WINDOW), P.SPEECH, P.ONSET),
    (P.ONSET, In.UNVOICED): Rule((A.SLIDE,), G.WINDOW_SILENT, (), P.SILENCE, P.ONSET),
    (P.SPEECH, In.VOICED): Rule((), G.ALWAYS, (), P.SPEECH, P.SPEECH),
    (P.SPEECH, In.UNVOICED): Rule(
        (A.MARK_SILENCE, A.COUNT_SILENCE), G.END_REACHED, (A.EMIT_END,), P.SILENCE, P.TRAILING
    ),
    (P.TRAILING, In.VOICED): Rule((A.RESET_SILENCE,), G.ALWAYS, (), P.SPEECH, P.SPEECH),
    (P.TRAILING, In.UNVOICED): Rule((A.COUNT_SILENCE,), G.END_REACHED, (A.EMIT_END,), P.SILENCE, P.TRAILING),
}
del P, In, A, G


@dataclass(frozen=True, slots=True)
class SpeechStart:
    offset_ms: int


@dataclass(frozen=True, slots=True)
class SpeechEnd:
    offset_ms: int


@dataclass(frozen=True, slots=True)
class IllegalInput:
    phase: Phase
    given: Input
    offset_ms: int


SmootherEvent = SpeechStart | SpeechEnd | IllegalInput


class Smoother:
    __slots__ = (
        "_last_offset",
        "_silence_since",
        "_silent_ms",
        "_voiced_ms",
        "_window",
        "end_ms",
        "frame_ms",
        "phase",
        "start_ms",
    )

    def __init__(self, frame_ms: int, start_ms: int, start_window_ms: int, end_ms: int) -> None:
        if not 0 < start_ms <= start_window_ms:
            raise ValueError("need 0 < start_ms <= start_window_ms")
        if frame_ms <= 0 or end_ms <= 0:
            raise ValueError("frame_ms and end_ms must be positive")
        self.frame_ms = frame_ms
        self.start_ms = start_ms
        self.end_ms = end_ms
        self.phase = Phase.SILENCE
        self._window: deque[tuple[int, bool]] = deque(maxlen=max(1, start_window_ms // frame_ms))
        self._voiced_ms = 0
        self._silent_ms = 0
        self._silence_since = 0
        self._last_offset: int | None = None

    def push(self, voiced: bool, offset_ms: int) -> SmootherEvent | None:
        """Feed one frame's decision; `offset_ms` is the frame's start in audio time."""
        last = self._last_offset
        if last is not None and offset_ms <= last:
            return self.step(Input.STALE, offset_ms)
        self._last_offset = offset_ms
        return self.step(Input.VOICED if voiced else Input.UNVOICED, offset_ms)

    def step(self, given: Input, offset_ms: int) -> SmootherEvent | None:
        """Apply the table's rule for (phase, input); an input with no rule changes nothing and is reported."""
        rule = TABLE.get((self.phase, given))
        if rule is None:
            return IllegalInput(self.phase, given, offset_ms)
        for action in rule.do:
            self._act(action, given, offset_ms)
        if not self._holds(rule.when):
            self.phase = rule.otherwise
            return None
        event: SmootherEvent | None = None
        for action in rule.emit:
            event = self._act(action, given, offset_ms) or event
        self.phase = rule.then
        return event

    def _holds(self, guard: Guard) -> bool:
        if guard is Guard.START_REACHED:
            return self._voiced_ms >= self.start_ms
        if guard is Guard.WINDOW_SILENT:
            return self._voiced_ms == 0
        if guard is Guard.END_REACHED:
            return self._silent_ms >= self.end_ms
        return True

    def _act(self, action: Action, given: Input, offset_ms: int) -> SmootherEvent | None:
        if action is Action.SLIDE:
            window = self._window
            if len(window) == window.maxlen and window[0][1]:
                self._voiced_ms -= self.frame_ms
            voiced = given is Input.VOICED
            window.append((offset_ms, voiced))
            if voiced:
                self._voiced_ms += self.frame_ms
        elif action is Action.CLEAR_WINDOW:
            self._window.clear()
            self._voiced_ms = 0
        elif action is Action.MARK_SILENCE:
            self._silence_since = offset_ms
        elif action is Action.COUNT_SILENCE:
            self._silent_ms += self.frame_ms
        elif action is Action.RESET_SILENCE:
            self._silent_ms = 0
        elif action is Action.EMIT_START:
            return SpeechStart(next(offset for offset, voiced in self._window if voiced))
        elif action is Action.EMIT_END:
            self._silent_ms = 0
            return SpeechEnd(self._silence_since)
        return None
