"""Pure: the turn a draining dialog owner still finishes, as the gateway sees it (no asyncio, no I/O).

When a dialog owner drains, the gateway moves the session to a new owner, and the turn under way at that moment
stays with the draining owner, which finishes it under its old epoch: the events of that turn (and only of that
turn) are relayed although their epoch is no longer current (`admits`). What each relayed event does to the
hand-over (`Handover.event`, table `AFTER`):
- an event of the handed-over turn that does not end it: nothing (KEEP);
- its end (`audio_end`, `error`, or an `interrupted` of the new owner's or the gateway's): the hand-over is over
  (DONE);
- its `interrupted` from the draining owner: the hand-over moves on to the next turn (FOLLOW). The draining owner
  interrupts its answer for speech over it: either it hands that speech to the new owner (which opens the next turn
  itself), or it had already confirmed it as a barge-in before it learned of the move, and the speech is its own
  next turn, which it finishes too. (Without this, that turn's events after the move were dropped as stale, and
  the client never saw it end.) The first event of that turn of its own is TAKEN: the gateway tells the new owner
  (`bus.ControlTurnTaken`), which may have been given a lower turn to number from, to number its next turn past it.
- an event of a newer turn: the new owner's next turn speaks first (SUPERSEDED): the handed-over turn is
  interrupted at the gateway, before anything of the newer turn reaches the client.
"""

from dataclasses import dataclass
from enum import Enum


class After(Enum):
    KEEP = "keep"
    DONE = "done"
    FOLLOW = "follow"
    TAKEN = "taken"
    SUPERSEDED = "superseded"


@dataclass(slots=True)
class Handover:
    epoch: int  # the draining owner's dialog epoch
    turn: int  # the turn it still finishes
    followed: bool = False  # `turn` is the one after the turn handed over (FOLLOW)
    told: bool = False  # the new owner was told that turn is taken

    def admits(self, epoch: int, turn_id: int | None) -> bool:
        """Whether an event of `epoch`, no longer current, is of the turn the draining owner finishes."""
        return epoch == self.epoch and turn_id == self.turn

    def event(self, epoch: int, turn_id: int, kind: str, ends: bool) -> After:
        """A relayed event (of any epoch) of turn `turn_id`, of type `kind` (`ends`: it ends its turn)."""
        if turn_id > self.turn:
            return After.SUPERSEDED
        if turn_id < self.turn:
            return After.KEEP
        if self.followed and not self.told and epoch == self.epoch:
            self.told = True
            return After.TAKEN  # and over when it ends it: the caller clears the hand-over
        if not ends:
            return After.KEEP
        if epoch == self.epoch and kind == "interrupted" and not self.followed:
            self.turn += 1
            self.followed = True
            return After.FOLLOW
        return After.DONE
