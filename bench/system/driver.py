"""One benchmark session's behaviour, as a pure state machine (no I/O; time passed in, monotonic seconds).

It streams silence, then the script's utterance, waits for the answer audio, then either lets the answer finish,
sends `barge_in` (message barge-in) or speaks the utterance again over the bot (spoken barge-in, which is also the
next turn), in a fixed rotation. Every expected event gets a deadline; a missed one counts as lost.

Speech over the answer first pauses it (`paused{n}`: the answer stops there) and is confirmed as an interruption
(`interrupted{n}`) once words are heard or the speech lasted long enough: the spoken barge-in's latency is taken at
the first of the two, and the confirmation must follow within its own deadline. The candidate turn's
`speech_started` comes after the confirmation, so it is not timed as frame -> `speech_started` (only checked).
An interruption taken back (`resumed{n}`) is counted: the script speaks words, so it should not happen.

Which frame makes the VAD worker report speech start or end depends a little on its history (webrtcvad adapts),
so each session feeds what it speaks to its own replica of the worker's detector: the clock of `speech_started`
starts when the frame that triggers the replica is sent. Silence between clips is not fed (all-zero frames leave
webrtcvad's decisions unchanged, and the smoother is already in silence).
"""

from collections import Counter
from dataclasses import dataclass
from enum import Enum

from bench.system.hist import Histograms
from bench.system.script import SILENCE, Script
from vad_worker.detector import Detector
from vad_worker.smoother import SpeechEnd, SpeechStart

BARGE_DELAY_S = 0.4  # after the first answer audio: well past the dialog worker's 0.25 s echo guard
GAP_S = 0.3  # silence between an answer's end and the next utterance
RECOVER_S = 1.0  # silence after a lost event before the next utterance
DEADLINES_S = {"speech_started": 2.0, "speech_ended": 2.0, "audio_response": 5.0, "interrupted": 2.0}
CONFIRM_S = 6.0  # paused -> interrupted: the utterance has to be heard (or end) first
BARGE_IN = '{"type": "barge_in"}'
VAD_EVENTS = ("speech_started", "speech_ended")
DRIFT_S = 0.1  # a VAD event this much before the replica's frame: the worker's detector drifted (e.g. re-claimed)


class Mode(Enum):
    COMPLETE = "complete"
    MESSAGE = "barge_in"
    SPOKEN = "spoken_barge_in"


@dataclass(frozen=True)
class Window:
    """Latencies whose clock starts inside [start, end) are recorded; so are losses and errors."""

    start: float
    end: float


class Recorder:
    def __init__(self, window: Window) -> None:
        self.window = window
        self.histograms = Histograms()
        self.counts: Counter[str] = Counter()

    def latency(self, name: str, started: float, now: float) -> None:
        if self.window.start <= started < self.window.end:
            self.histograms.record(name, now - started)

    def count(self, name: str, at: float) -> None:
        if self.window.start <= at < self.window.end:
            self.counts[name] += 1


@dataclass
class _Expect:
    since: float
    metric: str | None  # histogram to record into, None = only checked for loss
    deadline_s: float | None = None  # None: DEADLINES_S of its kind


class SessionDriver:
    def __init__(
        self,
        script: Script,
        detector: Detector,
        recorder: Recorder,
        rotation: tuple[Mode, ...],
        first_at: float,
        vad_events: bool = True,
    ) -> None:
        self.script = script
        self.detector = detector
        self._fed = 0
        self.recorder = recorder
        self.rotation = rotation
        self.vad_events = vad_events  # the peer sends no speech_started/speech_ended
        self._turns = 0
        self._clip: int | None = None
        self._spoken = False
        self._next_at: float | None = first_at
        self._barge_at: float | None = None
        self._mode = Mode.COMPLETE
        self._expect: dict[str, _Expect] = {}
        self._early: dict[str, float] = {}

    def tick(self, now: float) -> tuple[bytes, str | None]:
        """The frame to send now (20 ms of audio) and a text message to send before it, if any."""
        text = None
        if self._next_at is not None and now >= self._next_at:
            self._next_at = None
            self._start_clip(spoken=False)
        if self._barge_at is not None and now >= self._barge_at:
            self._barge_at = None
            if self._mode is Mode.MESSAGE:
                text = BARGE_IN
                self._expect["interrupted"] = _Expect(now, "barge_in")
            else:
                self._start_clip(spoken=True)
        frame = self._clip_frame(now) if self._clip is not None else SILENCE
        self._check_deadlines(now)
        return frame, text

    def on_event(self, kind: str, now: float, code: str | None = None) -> None:
        match kind:
            case "speech_started" | "speech_ended":
                self._met(kind, now)
            case "audio_response":
                self._on_audio(now)
            case "audio_end":
                self._on_audio_end(now)
            case "paused":
                self._on_paused(now)
            case "interrupted":
                self._on_interrupted(now)
            case "resumed":
                self.recorder.count("barge_in_taken_back", now)
                self._reset(now, RECOVER_S)
            case "error":
                self.recorder.count(f"error_events_{code or 'unknown'}", now)  # e.g. error_events_rate_limited

    def _start_clip(self, spoken: bool) -> None:
        self._clip, self._spoken = 0, spoken

    def _clip_frame(self, now: float) -> bytes:
        assert self._clip is not None
        index, script = self._clip, self.script
        if index == script.speech_frame and self._spoken:
            self._expect["interrupted"] = _Expect(now, "spoken_barge_in")
        frame = script.frames[index]
        for event in self.detector.feed(self._fed, frame):
            if isinstance(event, SpeechStart) and self.vad_events:
                self._vad_expect("speech_started", self._speech_start(now))
            elif isinstance(event, SpeechEnd):
                if self.vad_events:
                    self._vad_expect("speech_ended", _Expect(now, None))
                self._expect["audio_response"] = _Expect(now, "turn_overhead_raw")
        self._fed += 1
        self._clip = index + 1 if index + 1 < len(script.frames) else None
        return frame

    def _speech_start(self, now: float) -> _Expect:
        """Speech over the answer is a candidate turn: its `speech_started` follows the confirmation (`paused`
        is its latency, `spoken_barge_in`), so it is only checked for loss, not timed as frame -> speech_started."""
        if self._spoken:
            return _Expect(now, None, CONFIRM_S)
        return _Expect(now, "frame_to_speech_started")

    def _vad_expect(self, kind: str, expected: _Expect) -> None:
        early = self._early.pop(kind, None)
        if early is not None and expected.since - early < DRIFT_S:
            self.recorder.count("vad_drift", expected.since)
        else:
            self._expect[kind] = expected

    def _met(self, kind: str, now: float) -> bool:
        expected = self._expect.pop(kind, None)
        if expected is None:
            if kind in VAD_EVENTS:
                self._early[kind] = now
            return False
        if expected.metric is not None:
            self.recorder.latency(expected.metric, expected.since, now)
        return True

    def _on_audio(self, now: float) -> None:
        if "speech_ended" in self._expect or not self._met("audio_response", now):
            return
        self._mode = self.rotation[self._turns % len(self.rotation)]
        self._turns += 1
        if self._mode is not Mode.COMPLETE:
            self._barge_at = now + BARGE_DELAY_S

    def _on_audio_end(self, now: float) -> None:
        late = self._barge_at is not None or "interrupted" in self._expect or (self._clip is not None and self._spoken)
        if self._mode is not Mode.COMPLETE and late:
            self.recorder.count("barge_in_too_late", now)  # the answer ended before the barge-in landed
            self._barge_at = None
            self._spoken = False
            self._expect.pop("interrupted", None)
        if self._clip is None:
            self._next_at = now + GAP_S

    def _on_paused(self, now: float) -> None:
        """The answer stopped for the speech over it: the barge-in's latency; its confirmation is still due."""
        if self._met("interrupted", now):
            self._expect["interrupted"] = _Expect(now, None, CONFIRM_S)

    def _on_interrupted(self, now: float) -> None:
        expected = self._expect.get("interrupted")
        if not self._met("interrupted", now):
            return
        self._spoken = False
        if expected is not None and expected.metric == "barge_in":
            self._next_at = now + GAP_S

    def _check_deadlines(self, now: float) -> None:
        for kind, expected in self._expect.items():
            if now - expected.since > (expected.deadline_s or DEADLINES_S[kind]):
                self.recorder.count(f"lost_{kind}", expected.since)
                self._reset(now, RECOVER_S)
                return

    def _reset(self, now: float, after: float) -> None:
        self._expect.clear()
        self._clip = self._barge_at = None
        self._next_at = now + after
