"""Epoch fencing, pure: judge each bus message of a session by the ownership epoch it was sent under.

Epochs come from the session record (shared/session_record.py): every change of owner reserves a newer one by
compare-and-set, so a message of an older epoch comes from someone who no longer owns the session (dropped and
counted), and a message of a newer epoch tells its receiver that it has been replaced. Epoch 0 means "not
stamped" (a peer from before fencing, during a rolling deploy): it is accepted as current.
"""

from dataclasses import dataclass
from enum import Enum


class Verdict(Enum):
    CURRENT = "current"  # act on it
    STALE = "stale"  # sent under an older epoch: drop it
    NEWER = "newer"  # sent under a newer epoch: the receiver no longer owns the session


UNSTAMPED = 0


@dataclass(slots=True)
class EpochFilter:
    """The receiver's current epoch and how many stale messages it dropped."""

    epoch: int = UNSTAMPED
    dropped: int = 0

    def judge(self, epoch: int) -> Verdict:
        if epoch == UNSTAMPED or epoch == self.epoch:
            return Verdict.CURRENT
        if epoch < self.epoch:
            self.dropped += 1
            return Verdict.STALE
        return Verdict.NEWER

    def advance(self, epoch: int) -> bool:
        """Move to `epoch` when it is newer (the receiver was given it); False when it is older (refused)."""
        if epoch < self.epoch:
            return False
        self.epoch = epoch
        return True
