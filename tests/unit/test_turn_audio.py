"""Turn audio (dialog_worker/turn_audio.py with the VAD side's forwarding rules, vad_worker/turn_audio.py): every
stream gets its audio exactly once and in order, whatever the order in which speech starts, forwarded frames and
closes cross on the bus. The frames travel on one subject (in order), the speech events on another and the closes
back on a third: hypothesis interleaves the three at will."""

from collections import deque

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from dialog_worker.turn_audio import Preroll, TurnAudio

PREROLL = 5
KEEP = PREROLL + 10


def pcm(seq: int) -> bytes:
    return seq.to_bytes(4, "little")


def seqs(frames: list[bytes]) -> list[int]:
    return [int.from_bytes(frame, "little") for frame in frames]


class ForwardingRules(RuleBasedStateMachine):
    """The VAD side as vad_worker/turn_audio.py forwards; the dialog side as dialog_worker/session.py closes."""

    def __init__(self) -> None:
        super().__init__()
        self.next_seq = 0
        self.kept: deque[int] = deque(maxlen=PREROLL)
        self.utterance = 0
        self.forwarding = False
        self.frames: deque[tuple[int, int]] = deque()  # (utterance, seq) on the turn audio subject
        self.starts: deque[int] = deque()  # speech starts on the VAD subject
        self.closes: deque[int] = deque()  # closes on their way back to the VAD
        self.audio = TurnAudio(KEEP * 20)
        self.unclosed = 0
        self.got: dict[int, list[bytes]] = {}
        self.first: dict[int, int] = {}  # where each turn's utterance began (its first pre-roll frame)
        self.open: set[int] = set()
        self.turns = 0

    # the VAD owner

    @rule()
    def frame(self) -> None:
        seq, self.next_seq = self.next_seq, self.next_seq + 1
        self.kept.append(seq)
        if self.forwarding:
            self.frames.append((self.utterance, seq))

    @rule()
    def speech_start(self) -> None:
        self.utterance += 1
        self.forwarding = True
        self.frames.extend((self.utterance, seq) for seq in self.kept)
        self.starts.append(self.utterance)

    @precondition(lambda self: bool(self.closes))
    @rule()
    def close_arrives(self) -> None:
        if self.closes.popleft() == self.utterance:
            self.forwarding = False

    # the dialog owner

    @precondition(lambda self: bool(self.frames))
    @rule()
    def frame_arrives(self) -> None:
        utterance, seq = self.frames.popleft()
        self.audio.frame(utterance, seq, pcm(seq))
        self.maybe_close()

    @precondition(lambda self: bool(self.starts))
    @rule(opens=st.booleans())
    def start_arrives(self, opens: bool) -> None:
        """A speech start the turn machine opens a stream for, or not (a start while listening, a rejected one)."""
        self.unclosed = utterance = self.starts.popleft()
        if opens:
            self.turns += 1
            turn_id = self.turns
            preroll: Preroll = self.audio.preroll(utterance)
            self.got[turn_id] = list(preroll.frames)
            self.audio.listen(turn_id, self.got[turn_id].append, preroll)
            self.open.add(turn_id)
        self.maybe_close()

    @precondition(lambda self: bool(self.open))
    @rule(data=st.data())
    def stream_ends(self, data: st.DataObject) -> None:
        turn_id = data.draw(st.sampled_from(sorted(self.open)))
        self.open.discard(turn_id)
        self.audio.forget(turn_id)
        self.maybe_close()

    def maybe_close(self) -> None:
        if self.unclosed and not self.audio.listening:
            self.closes.append(self.unclosed)
            self.unclosed = 0

    @invariant()
    def each_stream_gets_contiguous_audio_once_in_order(self) -> None:
        for turn_id, frames in self.got.items():
            got = seqs(frames)
            assert got == list(range(got[0], got[0] + len(got))) if got else True, (turn_id, got)

    @invariant()
    def an_open_stream_is_never_starved(self) -> None:
        """Once every message is delivered, a stream still open has every frame heard so far."""
        if self.frames or self.starts or self.closes:
            return
        for turn_id in self.open:
            got = seqs(self.got[turn_id])
            assert self.forwarding and (got[-1] if got else -1) == self.next_seq - 1, (turn_id, got, self.next_seq)


TestForwarding = ForwardingRules.TestCase
TestForwarding.settings = settings(max_examples=200, stateful_step_count=40, deadline=None)


def test_a_turn_starts_with_its_utterance_preroll_and_then_gets_live_frames() -> None:
    audio = TurnAudio(200)
    for seq in range(3):
        audio.frame(1, seq, pcm(seq))
    preroll = audio.preroll(1)
    got = list(preroll.frames)
    audio.listen(7, got.append, preroll)
    for seq in range(3, 6):
        audio.frame(1, seq, pcm(seq))
    assert seqs(got) == [0, 1, 2, 3, 4, 5] and audio.offset_ms == 6 * 20
    audio.forget(7)
    audio.frame(1, 6, pcm(6))
    assert seqs(got) == [0, 1, 2, 3, 4, 5] and not audio.listening


def test_a_turn_opened_before_its_audio_waits_for_its_utterance() -> None:
    audio = TurnAudio(200)
    audio.frame(1, 0, pcm(0))
    preroll = audio.preroll(2)  # utterance 2's frames are not here yet
    got = list(preroll.frames)
    audio.listen(1, got.append, preroll)
    audio.frame(1, 1, pcm(1))  # a late frame of utterance 1, closed since: not this turn's audio
    for seq in (5, 6):  # utterance 2 began later (frames 2 to 4 were not forwarded)
        audio.frame(2, seq, pcm(seq))
    assert seqs(got) == [5, 6]


def test_the_session_audio_is_one_endless_utterance() -> None:
    """Without turn audio the session's own frames come in as utterance 0: the pre-roll is the last frames kept."""
    audio = TurnAudio(3 * 20)
    for seq in range(10):
        audio.frame(0, seq, pcm(seq))
    assert seqs(list(audio.preroll(0).frames)) == [7, 8, 9]
