"""Protocol order checker of one session's server events (pure): counts lost and out-of-order events.

Rules (docs/protocol.md, client protocol v1): turn ids never go back; `speech_ended{n}` only after `speech_started{n}`;
`audio_response` seq of a turn starts at 0 and grows by one (a gap is a lost chunk, a repeat or step back is out
of order); `audio_end{n}` comes after turn n's audio; nothing of turn n after an event that ends it
(`shared.protocol.ends_turn`).
"""

from dataclasses import dataclass, field

from shared.protocol import ends_turn


@dataclass
class OrderChecker:
    violations: int = 0
    lost: int = 0
    _turn: int = -1
    _started: set[int] = field(default_factory=set)
    _closed: set[int] = field(default_factory=set)
    _next_seq: dict[int, int] = field(default_factory=dict)

    def feed(self, kind: str, turn_id: int | None, seq: int | None = None) -> None:
        """Check one event (`turn_id` None for session-level events such as `session_start` or `pong`)."""
        if turn_id is None:
            return
        if turn_id < self._turn or turn_id in self._closed:
            self.violations += 1
            return
        self._turn = turn_id
        match kind:
            case "speech_started":
                if turn_id in self._started:
                    self.violations += 1
                self._started.add(turn_id)
            case "speech_ended":
                if turn_id not in self._started:
                    self.violations += 1
            case "audio_response":
                self._audio(turn_id, seq if seq is not None else -1)
            case "audio_end" if turn_id not in self._next_seq:
                self.violations += 1
        if ends_turn(kind):
            self._closed.add(turn_id)

    def _audio(self, turn_id: int, seq: int) -> None:
        expected = self._next_seq.get(turn_id, 0)
        if seq < expected:
            self.violations += 1
            return
        self.lost += seq - expected
        self._next_seq[turn_id] = seq + 1
