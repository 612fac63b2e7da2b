"""Pure turn and barge-in state machine of one session (no asyncio, no I/O; time passed in, in seconds).

Written as a transition table in the style of h11's `_state.py`: `TRANSITIONS[phase][trigger]` gives the next
phase and the effects, in order. The table is the documentation and `tests/unit/test_turns.py` walks it. An input
is first classified into a trigger (the echo guard and late reports of an older turn are decided there), then looked
up; a trigger the table has no entry for in the current phase is rejected: the phase stays and a `Rejected` action
tells the adapter to log and count it. Inputs only our own code could get wrong (a report of a turn that was never
opened) raise `TurnMachineMisuse`.

Inputs are speech events (from the VAD or the client), client controls, clock ticks and progress reports of the
running turn; outputs are actions for the adapter: events to send, Dialogflow streams to open, end or cancel. A
turn's events may be sent only while `accepts(turn_id)` holds: once `interrupted{n}` is emitted, turn n never
speaks again (docs/protocol.md).

Interruptions that can be taken back: speech over the bot's answer (once past the echo guard) first pauses it
(`paused{n}`; the adapter holds back the answer's events while `holds(n)`) and opens a stream for the new speech as
the candidate turn n+1, whose events are held back too. Words heard in that stream (a non-empty transcript), speech
that lasted at least `min_speech_s` (judged at its end from the VAD's offsets) or the client's `barge_in` confirm
it: `interrupted{n}`, then the candidate becomes the turn (`speech_started{n+1}`). Speech that ended shorter, or
no decision within `resume_timeout_s`, takes it back: the candidate is dropped and `resumed{n}` lets the answer go
on where it stopped; the next turn is n+1 again.

A turn that ends by itself (its `audio_end`, or an `error` that fails it: the agent failed, gave no answer, or our
code did) reports `TurnDone` before that last event goes out, so nothing of turn n follows it: every phase with an
open turn goes to IDLE. While the user is still speaking (LISTENING) that is at once: the session listens again
without waiting for the VAD. The rest of that utterance is not a turn: its `speech_ended` (the VAD's, or the
client's `stop_speaking`) lands in IDLE and changes nothing, and the next speech start opens turn n+1 (the VAD
alternates starts and ends, so that is the user's next utterance; a client's `start_speaking` opens it at once).
A paused answer's last event waits for the pause to be decided, so TURN_DONE never comes while PAUSED.

Hand-over (the session moves to a new dialog owner while this one drains, shared/session_worker.py): the running
turn finishes here, but speech heard over its answer (held or pausing it) is a barge-in whose turn belongs to the
new owner: the answer is interrupted here (`interrupted{n}`), the candidate dropped, and the speech passed on
(`PassSpeech`), so the new owner opens turn n+1 only after turn n was interrupted.

The new owner is told of a turn the draining one opened that way after the move (`TurnTaken`, from the gateway,
gateway/handover.py): its own next turn is numbered past it, and whatever runs goes on (a candidate turn already
numbered keeps its id: both owners opened a turn for speech at once).

Turn lost (the gateway told the client that turn n failed: a NATS outage cut its request or its events, or nothing
answered it in time): whatever runs here is stopped (the answer interrupted, a paused answer's candidate dropped
with it: the client was told to ask again), and the next turn is numbered past n even when n never opened here (its
request was lost), so the numbering the gateway relays stays the same on both sides. The loss of an older turn is
STALE.

A typed request is known by its text and the turn the gateway expects it to be (`Text.at_least`): the same request
again is REPEATED and changes nothing. The gateway sends a request again when it cannot know whether it arrived (its
NATS link dropped before any event answered it, gateway/turns.py), and the copy may come before or after the
original; a client's double submit of the same words before anything answered is the same request too.
"""

from dataclasses import dataclass
from enum import Enum

from shared.protocol import Interrupted, Paused, Resumed, ServerEvent, SpeechEnded, SpeechStarted


class Phase(Enum):
    IDLE = "idle"  # no open turn
    LISTENING = "listening"  # user speaking, audio streaming to the agent
    THINKING = "thinking"  # user done (or text sent), waiting for the agent (and tools)
    SPEAKING = "speaking"  # bot audio going out
    HELD = "held"  # bot audio going out; speech heard inside the echo guard is held until the guard is over
    PAUSED = "paused"  # the answer is paused by speech over it; a candidate turn listens until it is decided


# Inputs. Offsets are in ms of session audio; times (`now`) in seconds of a monotonic clock.


@dataclass(frozen=True, slots=True)
class SpeechStart:
    offset_ms: int
    now: float


@dataclass(frozen=True, slots=True)
class SpeechEnd:
    offset_ms: int


@dataclass(frozen=True, slots=True)
class BargeIn:
    """The client's `barge_in` message."""


@dataclass(frozen=True, slots=True)
class Text:
    """A typed request; `at_least`: the lowest turn id it may take (the gateway's expectation, shared/bus.py)."""

    text: str
    at_least: int = 0


@dataclass(frozen=True, slots=True)
class Words:
    """The recogniser heard words (a non-empty transcript) in the turn's speech."""

    turn_id: int


@dataclass(frozen=True, slots=True)
class Tick:
    """Audio is flowing (the echo guard is judged on ticks)."""

    now: float


@dataclass(frozen=True, slots=True)
class StreamEnd:
    """The agent heard the end of the utterance (possibly before the VAD did)."""

    turn_id: int
    offset_ms: int


@dataclass(frozen=True, slots=True)
class BotAudio:
    """The turn's first response audio went out."""

    turn_id: int
    now: float


@dataclass(frozen=True, slots=True)
class TurnDone:
    """The turn is over (answered or failed): reported before its last event goes out, so none follows it."""

    turn_id: int


@dataclass(frozen=True, slots=True)
class HandOver:
    """The session moved to a new dialog owner: this one opens no turn any more (module docstring)."""


@dataclass(frozen=True, slots=True)
class TurnLost:
    """The gateway reported turn `turn_id` failed to the client (its request or its events were lost on the way, or
    nothing answered it in time): the turn is stopped if it runs here, and no turn here is ever numbered `turn_id`
    or lower (the gateway relays nothing of it), even when its request never arrived."""

    turn_id: int


@dataclass(frozen=True, slots=True)
class TurnTaken:
    """The gateway relayed turn `turn_id` from the session's draining owner (speech over its answer that it confirmed
    as a barge-in before it learned of the move, gateway/handover.py): no turn here is numbered `turn_id` or lower.
    Whatever runs here goes on."""

    turn_id: int


Input = (
    SpeechStart | SpeechEnd | BargeIn | Text | Words | Tick | StreamEnd | BotAudio | TurnDone | HandOver | TurnLost
    | TurnTaken
)  # fmt: skip


class Trigger(Enum):
    SPEECH_START = "speech_start"
    SPEECH_IN_GUARD = "speech_in_guard"  # speech start while the bot's audio began less than the guard ago
    SPEECH_END = "speech_end"
    SHORT_SPEECH_END = "short_speech_end"  # while paused: the speech ended shorter than the minimum
    BARGE_IN = "barge_in"
    TEXT = "text"
    TICK = "tick"
    GUARD_OVER = "guard_over"  # a tick once the held speech outlasted the echo guard
    RESUME_TIMEOUT = "resume_timeout"  # a tick once a pause lasted the resume timeout undecided
    WORDS = "words"  # words heard in the newest turn's speech (the candidate's, while paused)
    STREAM_END = "stream_end"
    BOT_AUDIO = "bot_audio"
    TURN_DONE = "turn_done"  # the turn's last event (audio_end, or an error that fails it) is going out
    CANDIDATE = "candidate"  # while paused: a report of the candidate turn (its stream ended or failed)
    STALE = "stale"  # a report of an older turn: it was interrupted or replaced, nothing of it matters
    HAND_OVER = "hand_over"  # the session moved to a new dialog owner
    TURN_LOST = "turn_lost"  # the gateway failed the current turn or a newer one (an older one's loss is STALE)
    REPEATED = "repeated"  # the typed request this machine took last, sent again (module docstring)
    TURN_TAKEN = "turn_taken"  # the draining owner opened a turn: number the next one past it


class Effect(Enum):
    INTERRUPT = "interrupt"  # cancel the open turn, emit interrupted{n}
    OPEN = "open"  # next turn id, emit speech_started, open a Dialogflow stream (at the input's offset)
    END = "end"  # emit speech_ended, end the stream's input
    START_TEXT = "start_text"  # next turn id, start a text turn
    HOLD = "hold"  # remember the offset of speech heard inside the echo guard
    BOT_AUDIO = "bot_audio"  # remember when the bot's audio started (the echo guard runs from there)
    PAUSE = "pause"  # emit paused{n}; open the candidate turn's stream (at the input's offset)
    PAUSE_HELD = "pause_held"  # the same at the offset of the held speech
    ADOPT = "adopt"  # the candidate becomes the turn: emit its speech_started
    DROP = "drop"  # cancel the candidate turn's stream (it never was a turn for the client)
    RESUME = "resume"  # emit resumed{n}: the answer goes on
    PASS = "pass"  # hand the speech heard over the answer (held or pausing it) to the new owner
    SKIP = "skip"  # number the next turn past the one the gateway failed
    RESERVE = "reserve"  # number the next turn past the draining owner's


@dataclass(frozen=True, slots=True)
class Transition:
    to: Phase
    effects: tuple[Effect, ...] = ()


_STAY: dict[Phase, Transition] = {phase: Transition(phase) for phase in Phase}
_INTERRUPT_AND_TEXT = Transition(Phase.THINKING, (Effect.INTERRUPT, Effect.START_TEXT))
_PAUSE = Transition(Phase.PAUSED, (Effect.PAUSE,))
_CONFIRM = Transition(Phase.LISTENING, (Effect.INTERRUPT, Effect.ADOPT))
_TAKE_BACK = Transition(Phase.SPEAKING, (Effect.DROP, Effect.RESUME))
_PASS_HELD = Transition(Phase.IDLE, (Effect.INTERRUPT, Effect.PASS))
_PASS_PAUSED = Transition(Phase.IDLE, (Effect.INTERRUPT, Effect.DROP, Effect.PASS))
_LOST = Transition(Phase.IDLE, (Effect.INTERRUPT, Effect.SKIP))

# phase x trigger -> next phase and effects. STALE (late report of an older turn), REPEATED (a request taken already)
# and TICK change nothing in any phase, and TURN_TAKEN only reserves ids, so they are added to every row below; so is
# HAND_OVER (the running turn finishes here), but in HELD and PAUSED, where speech over the answer is handed over.
TRANSITIONS: dict[Phase, dict[Trigger, Transition]] = {
    Phase.IDLE: {
        Trigger.SPEECH_START: Transition(Phase.LISTENING, (Effect.OPEN,)),
        Trigger.SPEECH_END: _STAY[Phase.IDLE],  # the end of speech that interrupted, or of a dropped echo
        Trigger.BARGE_IN: _STAY[Phase.IDLE],  # nothing to interrupt
        Trigger.TEXT: Transition(Phase.THINKING, (Effect.START_TEXT,)),
        Trigger.WORDS: _STAY[Phase.IDLE],  # the interrupted turn's transcript, racing its cancellation
        Trigger.STREAM_END: _STAY[Phase.IDLE],  # the same
        Trigger.BOT_AUDIO: _STAY[Phase.IDLE],  # the same
        Trigger.TURN_DONE: _STAY[Phase.IDLE],  # the interrupted turn's task finishing
        Trigger.TURN_LOST: Transition(Phase.IDLE, (Effect.SKIP,)),  # e.g. its request never arrived
    },
    Phase.LISTENING: {
        Trigger.SPEECH_START: _STAY[Phase.LISTENING],  # the client's start_speaking and the VAD both say so
        Trigger.SPEECH_END: Transition(Phase.THINKING, (Effect.END,)),
        Trigger.BARGE_IN: _STAY[Phase.LISTENING],  # the bot is silent: the user is already talking
        Trigger.TEXT: _INTERRUPT_AND_TEXT,
        Trigger.WORDS: _STAY[Phase.LISTENING],
        Trigger.STREAM_END: Transition(Phase.THINKING, (Effect.END,)),
        Trigger.TURN_DONE: Transition(Phase.IDLE),  # it failed mid-utterance: listen again now (module docstring)
        Trigger.TURN_LOST: _LOST,  # the rest of the utterance is not a turn, as after TURN_DONE
    },
    Phase.THINKING: {
        Trigger.SPEECH_START: Transition(Phase.LISTENING, (Effect.INTERRUPT, Effect.OPEN)),  # nothing to pause yet
        Trigger.SPEECH_END: _STAY[Phase.THINKING],  # the VAD's end after the agent's
        Trigger.BARGE_IN: Transition(Phase.IDLE, (Effect.INTERRUPT,)),
        Trigger.TEXT: _INTERRUPT_AND_TEXT,
        Trigger.WORDS: _STAY[Phase.THINKING],  # the final transcript, or the typed text
        Trigger.STREAM_END: _STAY[Phase.THINKING],  # the agent's end after the VAD's
        Trigger.BOT_AUDIO: Transition(Phase.SPEAKING, (Effect.BOT_AUDIO,)),
        Trigger.TURN_DONE: Transition(Phase.IDLE),
        Trigger.TURN_LOST: _LOST,
    },
    Phase.SPEAKING: {
        Trigger.SPEECH_START: _PAUSE,
        Trigger.SPEECH_IN_GUARD: Transition(Phase.HELD, (Effect.HOLD,)),
        Trigger.SPEECH_END: _STAY[Phase.SPEAKING],
        Trigger.BARGE_IN: Transition(Phase.IDLE, (Effect.INTERRUPT,)),
        Trigger.TEXT: _INTERRUPT_AND_TEXT,
        Trigger.STREAM_END: _STAY[Phase.SPEAKING],
        Trigger.TURN_DONE: Transition(Phase.IDLE),
        Trigger.TURN_LOST: _LOST,
    },
    Phase.HELD: {
        Trigger.SPEECH_START: _PAUSE,
        Trigger.SPEECH_IN_GUARD: Transition(Phase.HELD, (Effect.HOLD,)),
        Trigger.SPEECH_END: _STAY[Phase.SPEAKING],  # it was the bot's own echo
        Trigger.BARGE_IN: Transition(Phase.IDLE, (Effect.INTERRUPT,)),
        Trigger.TEXT: _INTERRUPT_AND_TEXT,
        Trigger.GUARD_OVER: Transition(Phase.PAUSED, (Effect.PAUSE_HELD,)),
        Trigger.HAND_OVER: _PASS_HELD,
        Trigger.STREAM_END: _STAY[Phase.HELD],
        Trigger.TURN_DONE: Transition(Phase.IDLE),  # the answer ended first: the held speech goes with it
        Trigger.TURN_LOST: _LOST,  # the held speech goes with it
    },
    Phase.PAUSED: {
        Trigger.SPEECH_START: _STAY[Phase.PAUSED],  # the client's start_speaking while the VAD hears it too
        Trigger.WORDS: _CONFIRM,
        Trigger.SPEECH_END: Transition(Phase.THINKING, (Effect.INTERRUPT, Effect.ADOPT, Effect.END)),
        Trigger.SHORT_SPEECH_END: _TAKE_BACK,
        Trigger.RESUME_TIMEOUT: _TAKE_BACK,
        Trigger.BARGE_IN: _CONFIRM,  # the client's barge_in is immediate: the speech is the next turn
        Trigger.TEXT: Transition(Phase.THINKING, (Effect.INTERRUPT, Effect.DROP, Effect.START_TEXT)),
        Trigger.STREAM_END: _STAY[Phase.PAUSED],  # the answer's stream, long over
        Trigger.CANDIDATE: _STAY[Phase.PAUSED],  # decided by words, the VAD's end or the timeout only
        Trigger.HAND_OVER: _PASS_PAUSED,
        Trigger.TURN_LOST: Transition(Phase.IDLE, (Effect.INTERRUPT, Effect.DROP, Effect.SKIP)),  # speech goes too
    },
}
for _phase, _row in TRANSITIONS.items():
    _row[Trigger.TICK] = _STAY[_phase]
    _row[Trigger.STALE] = _STAY[_phase]
    _row[Trigger.REPEATED] = _STAY[_phase]
    _row[Trigger.TURN_TAKEN] = Transition(_phase, (Effect.RESERVE,))
    _row.setdefault(Trigger.HAND_OVER, _STAY[_phase])


@dataclass(frozen=True, slots=True)
class Emit:
    event: ServerEvent


@dataclass(frozen=True, slots=True)
class OpenStream:
    turn_id: int


@dataclass(frozen=True, slots=True)
class EndStream:
    turn_id: int


@dataclass(frozen=True, slots=True)
class StartText:
    turn_id: int
    text: str


@dataclass(frozen=True, slots=True)
class Cancel:
    turn_id: int


@dataclass(frozen=True, slots=True)
class Rejected:
    """An input the table does not allow in this phase: nothing changed; the adapter logs and counts it."""

    phase: Phase
    trigger: Trigger


@dataclass(frozen=True, slots=True)
class PassSpeech:
    """Tell the new owner that speech started at `offset_ms` (it opens the turn for it)."""

    offset_ms: int


Action = Emit | OpenStream | EndStream | StartText | Cancel | PassSpeech | Rejected


class TurnMachineMisuse(Exception):
    """Our own code fed the machine something impossible (a report of a turn that was never opened)."""


@dataclass(frozen=True, slots=True)
class BargeInRules:
    """`echo_guard_s`: speech starting this soon after the bot's audio is held until it outlasts the guard (echo);
    `min_speech_s` and `resume_timeout_s`: when a pause is confirmed or taken back (module docstring)."""

    echo_guard_s: float = 0.25
    min_speech_s: float = 0.6
    resume_timeout_s: float = 1.5


class TurnMachine:
    """Tracks the current turn (and, while the answer is paused, the candidate turn)."""

    def __init__(self, last_turn_id: int = 0, rules: BargeInRules = BargeInRules()) -> None:
        self.turn_id = last_turn_id
        self.phase = Phase.IDLE
        self.rules = rules
        self.candidate: int | None = None  # while PAUSED: the turn the new speech would be
        self._bot_audio_since: float | None = None
        self._held_offset_ms = 0
        self._speech_offset_ms = 0  # where the candidate's speech started
        self._paused_at = 0.0
        self._last_text: tuple[int, str] | None = None  # (at_least, text) of the last typed request taken
        self._taken = 0  # the newest turn the draining owner opened: the next turn here is numbered past it

    def accepts(self, turn_id: int) -> bool:
        """Whether events of `turn_id` may be sent (once `holds` no longer says to wait)."""
        return turn_id == self.turn_id and self.phase is not Phase.IDLE

    def holds(self, turn_id: int) -> bool:
        """While paused, events of the answer and of the candidate wait for the decision."""
        return self.phase is Phase.PAUSED and turn_id in (self.turn_id, self.candidate)

    def handle(self, event: Input) -> list[Action]:
        """Feed one input; returns the actions to carry out, in order."""
        trigger = self.classify(event)
        transition = TRANSITIONS[self.phase].get(trigger)
        if transition is None:
            return [Rejected(self.phase, trigger)]
        actions: list[Action] = []
        for effect in transition.effects:
            actions.extend(self._apply(effect, event))
        self.phase = transition.to
        if self.phase not in (Phase.SPEAKING, Phase.HELD, Phase.PAUSED):
            self._bot_audio_since = None
        return actions

    def classify(self, event: Input) -> Trigger:
        """The trigger `event` is in the current phase (the row of TRANSITIONS it is looked up in)."""
        match event:
            case SpeechStart(now=now):
                guarded = self.phase in (Phase.SPEAKING, Phase.HELD) and self._in_echo_guard(now)
                return Trigger.SPEECH_IN_GUARD if guarded else Trigger.SPEECH_START
            case SpeechEnd(offset_ms=offset_ms):
                short = offset_ms - self._speech_offset_ms < self.rules.min_speech_s * 1000
                return Trigger.SHORT_SPEECH_END if self.phase is Phase.PAUSED and short else Trigger.SPEECH_END
            case BargeIn():
                return Trigger.BARGE_IN
            case Text(text=text, at_least=at_least):
                repeated = at_least > 0 and (at_least, text) == self._last_text
                return Trigger.REPEATED if repeated else Trigger.TEXT
            case Words(turn_id=turn_id):
                return Trigger.WORDS if turn_id == self._newest() else Trigger.STALE
            case Tick(now=now):
                if self.phase is Phase.HELD and not self._in_echo_guard(now):
                    return Trigger.GUARD_OVER
                if self.phase is Phase.PAUSED and now - self._paused_at >= self.rules.resume_timeout_s:
                    return Trigger.RESUME_TIMEOUT
                return Trigger.TICK
            case StreamEnd(turn_id=turn_id):
                return self._report(turn_id, Trigger.STREAM_END)
            case BotAudio(turn_id=turn_id):
                return self._report(turn_id, Trigger.BOT_AUDIO)
            case TurnDone(turn_id=turn_id):
                return self._report(turn_id, Trigger.TURN_DONE)
            case HandOver():
                return Trigger.HAND_OVER
            case TurnLost(turn_id=turn_id):
                return Trigger.STALE if turn_id < self.turn_id else Trigger.TURN_LOST
            case TurnTaken():
                return Trigger.TURN_TAKEN

    def _report(self, turn_id: int, trigger: Trigger) -> Trigger:
        """A running turn's report: about the current turn, the candidate, or STALE (an older turn's, late)."""
        if turn_id > self._newest():
            raise TurnMachineMisuse(f"report of turn {turn_id}, the newest is {self._newest()}")
        if turn_id == self.candidate:
            return Trigger.CANDIDATE
        return trigger if turn_id == self.turn_id else Trigger.STALE

    def _newest(self) -> int:
        return self.turn_id if self.candidate is None else self.candidate

    def _apply(self, effect: Effect, event: Input) -> list[Action]:
        match effect:
            case Effect.INTERRUPT:
                return [Cancel(self.turn_id), Emit(Interrupted(turn_id=self.turn_id))]
            case Effect.OPEN:
                assert isinstance(event, SpeechStart)
                return self._open(event.offset_ms)
            case Effect.END:
                assert isinstance(event, SpeechEnd | StreamEnd)
                return [Emit(SpeechEnded(turn_id=self.turn_id, offset_ms=event.offset_ms)), EndStream(self.turn_id)]
            case Effect.START_TEXT:
                assert isinstance(event, Text)
                self.turn_id = max(self._next_id(), event.at_least)
                self._last_text = (event.at_least, event.text)
                return [StartText(self.turn_id, event.text)]
            case Effect.HOLD:
                assert isinstance(event, SpeechStart)
                self._held_offset_ms = event.offset_ms
                return []
            case Effect.BOT_AUDIO:
                assert isinstance(event, BotAudio)
                self._bot_audio_since = event.now
                return []
            case Effect.PAUSE:
                assert isinstance(event, SpeechStart)
                return self._pause(event.offset_ms, event.now)
            case Effect.PAUSE_HELD:
                assert isinstance(event, Tick)
                return self._pause(self._held_offset_ms, event.now)
            case Effect.ADOPT:
                assert self.candidate is not None
                self.turn_id, self.candidate = self.candidate, None
                return [Emit(SpeechStarted(turn_id=self.turn_id, offset_ms=self._speech_offset_ms))]
            case Effect.DROP:
                assert self.candidate is not None
                dropped, self.candidate = self.candidate, None
                return [Cancel(dropped)]
            case Effect.RESUME:
                return [Emit(Resumed(turn_id=self.turn_id))]
            case Effect.PASS:
                held = self.phase is Phase.HELD
                return [PassSpeech(self._held_offset_ms if held else self._speech_offset_ms)]
            case Effect.SKIP:
                assert isinstance(event, TurnLost)
                self.turn_id = max(self.turn_id, event.turn_id)
                return []
            case Effect.RESERVE:
                assert isinstance(event, TurnTaken)
                self._taken = max(self._taken, event.turn_id)
                return []

    def _next_id(self) -> int:
        return max(self.turn_id, self._taken) + 1

    def _pause(self, offset_ms: int, now: float) -> list[Action]:
        self.candidate = self._next_id()
        self._speech_offset_ms = offset_ms
        self._paused_at = now
        return [Emit(Paused(turn_id=self.turn_id)), OpenStream(self.candidate)]

    def _open(self, offset_ms: int) -> list[Action]:
        self.turn_id = self._next_id()
        return [Emit(SpeechStarted(turn_id=self.turn_id, offset_ms=offset_ms)), OpenStream(self.turn_id)]

    def _in_echo_guard(self, now: float) -> bool:
        since = self._bot_audio_since
        return since is not None and now - since < self.rules.echo_guard_s
