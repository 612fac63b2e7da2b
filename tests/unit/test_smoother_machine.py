"""Hypothesis stateful test of the VAD smoother (vad_worker/smoother.py) against the rules its docstring states.

Frames of random voicing arrive in audio-time order (with random gaps and the odd stale frame); after every step:
starts and ends alternate, starting with a start; a start is reported exactly when the voiced time within the
start window (frames since the last end) first reaches `start_ms`, at the first voiced frame of that window; an
end exactly when `end_ms` of unvoiced frames follow speech, at the first of them; an end is never before its
start; stale frames are reported and change nothing.
"""

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from vad_worker.smoother import IllegalInput, Input, Phase, Smoother, SpeechEnd, SpeechStart

FRAME_MS = 20


class SmootherMachine(RuleBasedStateMachine):
    @initialize(start_frames=st.integers(1, 6), extra_window=st.integers(0, 6), end_frames=st.integers(1, 10))
    def setup(self, start_frames: int, extra_window: int, end_frames: int) -> None:
        self.window = start_frames + extra_window
        self.start_ms = start_frames * FRAME_MS
        self.end_frames = end_frames
        self.smoother = Smoother(FRAME_MS, self.start_ms, self.window * FRAME_MS, end_frames * FRAME_MS)
        self.now = 0
        self.frames: list[tuple[int, bool]] = []  # accepted frames since the last end (or the beginning)
        self.trailing: list[int] = []  # offsets of unvoiced frames since the last voiced one, while in speech
        self.events: list[SpeechStart | SpeechEnd] = []
        self.in_speech = False

    @rule(voiced=st.booleans(), gap_frames=st.integers(0, 2))
    def frame(self, voiced: bool, gap_frames: int) -> None:
        offset = self.now + gap_frames * FRAME_MS
        self.now = offset + FRAME_MS
        event = self.smoother.push(voiced, offset)
        if not self.in_speech:
            self.frames.append((offset, voiced))
            recent = self.frames[-self.window :]
            voiced_ms = sum(FRAME_MS for _, v in recent if v)
            if voiced_ms >= self.start_ms:
                assert event == SpeechStart(next(o for o, v in recent if v))
                self.in_speech, self.trailing = True, []
            else:
                assert event is None
        elif voiced:
            self.trailing = []
            assert event is None
        else:
            self.trailing.append(offset)
            if len(self.trailing) >= self.end_frames:
                assert event == SpeechEnd(self.trailing[0])
                self.in_speech, self.frames = False, []
            else:
                assert event is None
        if event is not None:
            assert isinstance(event, SpeechStart | SpeechEnd)
            self.events.append(event)

    @precondition(lambda self: self.now > 0)
    @rule(back_ms=st.integers(FRAME_MS, 200))
    def stale_frame(self, back_ms: int) -> None:
        phase = self.smoother.phase
        offset = self.now - back_ms
        assert self.smoother.push(True, offset) == IllegalInput(phase, Input.STALE, offset)
        assert self.smoother.phase is phase

    @invariant()
    def starts_and_ends_alternate_and_never_go_back(self) -> None:
        for index, event in enumerate(self.events):
            assert isinstance(event, SpeechStart if index % 2 == 0 else SpeechEnd)
            if index:
                assert event.offset_ms > self.events[index - 1].offset_ms

    @invariant()
    def phase_matches_the_last_event(self) -> None:
        speaking = self.smoother.phase in (Phase.SPEECH, Phase.TRAILING)
        assert speaking == self.in_speech == (len(self.events) % 2 == 1)


SmootherMachine.TestCase.settings = settings(max_examples=100, stateful_step_count=60, deadline=None)
test_smoother_machine = SmootherMachine.TestCase
