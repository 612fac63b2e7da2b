"""Session ownership as a pure state machine (no asyncio, no I/O; time passed in, in seconds).

The gateway that holds a session's socket runs one machine per session. Every change of the session record
(shared/session_record.py) goes through it and is written by compare-and-set on the record's revision
(shared/session_store.py), one write at a time:

- opening (new session or resume, on any gateway) takes the record over for this socket and reserves a new epoch
  for every worker kind, the new dialog epoch becoming the holder's (`SessionRecord.taken`); the write that makes
  every kind owned marks the holder ready, and from then on only its own resume tokens are accepted. Of two sockets
  racing for one session the last writer wins while the record still accepts its token, and the other is replaced;
- a claim request is sent only under an epoch this socket reserved, one request per epoch (a retry reserves a new
  one), so at most one worker ever owns an epoch; the worker that answers is recorded, then announced;
- an owner whose liveness key expired (shared/liveness.py: judged by the NATS server) is suspected, and re-claimed
  when it is not seen again within `confirm_s`; a draining owner is moved at once;
- a write that loses the compare-and-set re-reads the record: our own write that landed counts as done, a record
  of another socket means this socket was replaced.

Per worker kind, a slot goes through the phases of `SLOT_TABLE` (slot phase x input -> next phase); inputs not in
the table leave the slot as it is.
"""

from dataclasses import dataclass, field
from enum import Enum

import msgspec

from shared.session_record import SessionRecord
from shared.subjects import WORKER_KINDS, WorkerKind

QUEUE_ATTEMPTS = 3  # claims through the queue group before a new session gives up
TAKEOVER_ATTEMPTS = 5  # compare-and-set conflicts tolerated while opening


class Slot(Enum):
    NEEDS_EPOCH = "needs_epoch"  # a claim is due: reserve an epoch for it in the next write
    RESERVING = "reserving"  # the write in flight reserves its epoch
    CLAIMING = "claiming"  # a claim request is out under the reserved epoch
    NEEDS_COMMIT = "needs_commit"  # a worker took it: record it in the next write
    COMMITTING = "committing"  # the write in flight records the new owner
    OWNED = "owned"
    SUSPECT = "suspect"  # the owner's liveness key expired: re-claim unless it comes back
    BACKOFF = "backoff"  # no worker answered: try again later


class Input(Enum):
    WRITE_SENT = "write_sent"
    WRITE_DONE = "write_done"
    WRITE_LOST = "write_lost"  # our write did not land: redo it from the fresh record
    CLAIMED = "claimed"
    CLAIM_MISSED = "claim_missed"
    WORKER_GONE = "worker_gone"
    WORKER_SEEN = "worker_seen"
    WORKER_DRAINING = "worker_draining"
    CONFIRMED_GONE = "confirmed_gone"
    RETRY_DUE = "retry_due"


SLOT_TABLE: dict[tuple[Slot, Input], Slot] = {
    (Slot.NEEDS_EPOCH, Input.WRITE_SENT): Slot.RESERVING,
    (Slot.NEEDS_COMMIT, Input.WRITE_SENT): Slot.COMMITTING,
    (Slot.RESERVING, Input.WRITE_DONE): Slot.CLAIMING,
    (Slot.COMMITTING, Input.WRITE_DONE): Slot.OWNED,
    (Slot.RESERVING, Input.WRITE_LOST): Slot.NEEDS_EPOCH,
    (Slot.COMMITTING, Input.WRITE_LOST): Slot.NEEDS_COMMIT,
    (Slot.CLAIMING, Input.CLAIMED): Slot.NEEDS_COMMIT,
    (Slot.CLAIMING, Input.CLAIM_MISSED): Slot.BACKOFF,
    (Slot.OWNED, Input.WORKER_GONE): Slot.SUSPECT,
    (Slot.SUSPECT, Input.WORKER_SEEN): Slot.OWNED,
    (Slot.SUSPECT, Input.CONFIRMED_GONE): Slot.NEEDS_EPOCH,
    (Slot.OWNED, Input.WORKER_DRAINING): Slot.NEEDS_EPOCH,
    (Slot.SUSPECT, Input.WORKER_DRAINING): Slot.NEEDS_EPOCH,
    (Slot.BACKOFF, Input.RETRY_DUE): Slot.NEEDS_EPOCH,
}


class Phase(Enum):
    OPENING = "opening"  # taking the record over for this socket
    OPEN = "open"
    REPLACED = "replaced"  # another socket holds the session now
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class Write:
    """Compare-and-set `record` on `revision` (0: the record must not exist yet)."""

    record: SessionRecord
    revision: int


@dataclass(frozen=True, slots=True)
class Delete:
    revision: int


@dataclass(frozen=True, slots=True)
class SendClaim:
    """Ask for a worker of `kind` under `epoch`; `direct`: ask that worker itself rather than the queue group."""

    kind: WorkerKind
    epoch: int
    direct: str | None


@dataclass(frozen=True, slots=True)
class Announce:
    """Tell the session's workers who owns `kind` from `epoch` on (any other worker of that kind lets go)."""

    kind: WorkerKind
    worker_id: str
    epoch: int


@dataclass(frozen=True, slots=True)
class OwnerLost:
    """The owner of `kind` is gone (crashed: a turn it was running is lost) or draining (it finishes its turn)."""

    kind: WorkerKind
    crashed: bool


@dataclass(frozen=True, slots=True)
class Ready:
    """Every kind is owned: for the first time (the session can start), or again after an owner moved."""


@dataclass(frozen=True, slots=True)
class GiveUp:
    """No worker of `kind` answered a new session."""

    kind: WorkerKind


@dataclass(frozen=True, slots=True)
class Replaced:
    """Another socket took the session over (or it ended elsewhere): close this one."""


Action = Write | Delete | SendClaim | Announce | OwnerLost | Ready | GiveUp | Replaced


@dataclass(slots=True)
class _KindState:
    slot: Slot = Slot.NEEDS_EPOCH
    worker_id: str | None = None  # the worker being committed or owning
    direct: str | None = None  # the next claim tries this worker first
    since: float = 0.0  # SUSPECT: when the owner's key expired; BACKOFF: when to retry
    gone: float | None = None  # the worker being committed expired meanwhile (at this time)
    misses: int = 0


@dataclass(slots=True)
class Progress:
    last_turn_id: int = 0
    audio_seq: int = 0


@dataclass
class OwnershipMachine:
    """Ownership of one session as seen by the socket `record.connection` holds (or is taking over)."""

    record: SessionRecord
    revision: int  # of `record` in the store; 0 when it does not exist yet
    confirm_s: float  # an expired owner not seen again within this long is re-claimed
    retry_s: float  # after a claim nobody answered
    admitted_epoch: int = 0  # the dialog epoch of the resume token this socket was let in with (0: a new session)
    phase: Phase = Phase.OPENING
    kinds: dict[WorkerKind, _KindState] = field(default_factory=dict)
    progress: Progress = field(default_factory=Progress)
    ready: bool = False  # every kind was owned once
    _settled: bool = False  # every kind is owned now (False while one moves)
    _writing: SessionRecord | None = None
    _conflicts: int = 0

    def open(self, live: frozenset[str]) -> list[Action]:
        """Start: the recorded owners still alive are asked first (a resumed session keeps its workers)."""
        self.progress = Progress(self.record.last_turn_id, self.record.audio_seq)
        for kind in WORKER_KINDS:
            recorded = self.record.owner(kind).worker_id
            self.kinds[kind] = _KindState(direct=recorded if recorded in live else None)
        return self._flush()

    # -- the store ----------------------------------------------------------------------------------------------

    def write_done(self, revision: int) -> list[Action]:
        written, self._writing = self._writing, None
        if written is None or self.phase in (Phase.REPLACED, Phase.CLOSED):
            return []
        self.record, self.revision = written, revision
        self.phase, self._conflicts = Phase.OPEN, 0
        actions: list[Action] = []
        for kind, state in self.kinds.items():
            before = state.slot
            self._step(state, Input.WRITE_DONE)
            owner = written.owner(kind)
            if before is Slot.RESERVING:
                actions.append(SendClaim(kind, owner.epoch, state.direct))
            elif before is Slot.COMMITTING and state.worker_id is not None:
                actions.append(Announce(kind, state.worker_id, owner.epoch))
                if state.gone is not None:
                    self._step(state, Input.WORKER_GONE)
                    state.since, state.gone = state.gone, None
        if not self._settled and all(state.slot is Slot.OWNED for state in self.kinds.values()):
            self.ready = self._settled = True
            actions.append(Ready())
        return actions + self._flush()

    def write_conflict(self, fresh: SessionRecord | None, revision: int) -> list[Action]:
        """The write lost the compare-and-set (or its outcome is unknown): `fresh` is the record now."""
        written, self._writing = self._writing, None
        if self.phase in (Phase.REPLACED, Phase.CLOSED) or written is None:
            return []
        if fresh == written:
            self._writing = written
            return self.write_done(revision)
        ours = fresh is not None and fresh.connection == self.record.connection
        self._conflicts += 1
        if fresh is None or (not ours and (self.phase is Phase.OPEN or self._superseded(fresh))):
            return self._replaced()
        for state in self.kinds.values():
            self._step(state, Input.WRITE_LOST)
        self.record, self.revision = self._ours(fresh), revision
        return self._flush()

    # -- claims -------------------------------------------------------------------------------------------------

    def claimed(self, kind: WorkerKind, epoch: int, worker_id: str) -> list[Action]:
        state = self.kinds[kind]
        if state.slot is not Slot.CLAIMING or epoch != self.record.owner(kind).epoch:
            return []  # a late answer to an epoch given up: newer epochs fence that worker out
        state.worker_id, state.misses = worker_id, 0
        self._step(state, Input.CLAIMED)
        return self._flush()

    def claim_missed(self, kind: WorkerKind, epoch: int, now: float) -> list[Action]:
        state = self.kinds[kind]
        if state.slot is not Slot.CLAIMING or epoch != self.record.owner(kind).epoch:
            return []
        if state.direct is not None:
            state.direct, state.slot = None, Slot.NEEDS_EPOCH  # the recorded worker did not answer: ask the queue
            return self._flush()
        state.misses += 1
        if not self.ready and state.misses >= QUEUE_ATTEMPTS:
            self.phase = Phase.CLOSED
            return [GiveUp(kind)]
        self._step(state, Input.CLAIM_MISSED)
        state.since = now + self.retry_s
        return self._flush()

    # -- liveness -----------------------------------------------------------------------------------------------

    def worker_gone(self, worker_id: str, now: float) -> list[Action]:
        for state in self._owned_by(worker_id):
            if self._step(state, Input.WORKER_GONE):
                state.since = now
            elif state.slot in (Slot.NEEDS_COMMIT, Slot.COMMITTING):
                state.gone = now  # suspected once recorded
        return []

    def worker_seen(self, worker_id: str) -> list[Action]:
        for state in self._owned_by(worker_id):
            state.gone = None
            self._step(state, Input.WORKER_SEEN)
        return []

    def worker_draining(self, worker_id: str) -> list[Action]:
        actions: list[Action] = []
        for kind, state in self.kinds.items():
            if state.worker_id == worker_id and self._step(state, Input.WORKER_DRAINING):
                state.direct, self._settled = None, False
                actions.append(OwnerLost(kind, crashed=False))
        return actions + self._flush()

    def tick(self, now: float) -> list[Action]:
        actions: list[Action] = []
        for kind, state in self.kinds.items():
            if state.slot is Slot.SUSPECT and now - state.since >= self.confirm_s:
                self._step(state, Input.CONFIRMED_GONE)
                state.direct, self._settled = None, False
                actions.append(OwnerLost(kind, crashed=True))
            elif state.slot is Slot.BACKOFF and now >= state.since:
                self._step(state, Input.RETRY_DUE)
        return actions + self._flush()

    # -- fencing and the end ------------------------------------------------------------------------------------

    def newer_epoch(self, kind: WorkerKind, epoch: int) -> list[Action]:
        """A message of `kind` under an epoch this socket never reserved: another socket did."""
        reserved = max(self.record.owner(kind).epoch, self._writing.owner(kind).epoch if self._writing else 0)
        return self._replaced() if epoch > reserved else []

    def close(self, ended: bool) -> list[Action]:
        """The socket closed: record where the session stands (a resume continues from there), or delete it."""
        if self.phase in (Phase.REPLACED, Phase.CLOSED) or self.revision == 0:
            self.phase = Phase.CLOSED
            return []
        self.phase = Phase.CLOSED
        if ended:
            return [Delete(self.revision)]
        return [Write(self._ours(self.record), self.revision)]

    def waiting_for(self) -> WorkerKind | None:
        """What keeps a session from starting: the first kind not owned yet, or None while the record itself is
        not written yet (the session store does not answer)."""
        if self.phase is Phase.OPENING:
            return None
        return next((kind for kind, state in self.kinds.items() if state.slot is not Slot.OWNED), None)

    def owner(self, kind: WorkerKind) -> str | None:
        """The worker acting for `kind` (None while it moves)."""
        state = self.kinds.get(kind)
        return state.worker_id if state is not None and state.slot in (Slot.OWNED, Slot.SUSPECT) else None

    # -- internals ----------------------------------------------------------------------------------------------

    def _step(self, state: _KindState, event: Input) -> bool:
        target = SLOT_TABLE.get((state.slot, event))
        if target is None:
            return False
        state.slot = target
        return True

    def _owned_by(self, worker_id: str) -> list[_KindState]:
        return [state for state in self.kinds.values() if state.worker_id == worker_id]

    def _superseded(self, fresh: SessionRecord) -> bool:
        """While opening: another socket took the session after our resume token was issued, or too many
        conflicts in a row."""
        return not fresh.accepts(self.admitted_epoch) or self._conflicts > TAKEOVER_ATTEMPTS

    def _ours(self, base: SessionRecord) -> SessionRecord:
        """This socket's record on top of `base` (the fresh one after a conflict): the owners of `base`, this
        socket's connection, language and subject, and the further of both progresses; while opening, the holder
        of `base` (the takeover is added by `_flush`), else this socket's."""
        holder = base if self.phase is Phase.OPENING else self.record
        return SessionRecord(
            session_id=base.session_id,
            connection=self.record.connection,
            language=self.record.language,
            subject=self.record.subject,
            owners=base.owners,
            last_turn_id=max(base.last_turn_id, self.progress.last_turn_id),
            audio_seq=max(base.audio_seq, self.progress.audio_seq),
            holder_epoch=holder.holder_epoch,
            holder_ready=holder.holder_ready or (self.ready and self.phase is not Phase.OPENING),
            prior_epoch=holder.prior_epoch,
        )

    def _flush(self) -> list[Action]:
        """Send the next write when none is in flight and a slot needs one."""
        if self._writing is not None or self.phase in (Phase.REPLACED, Phase.CLOSED):
            return []
        due = [kind for kind, state in self.kinds.items() if state.slot in (Slot.NEEDS_EPOCH, Slot.NEEDS_COMMIT)]
        if not due:
            return []
        record = self._ours(self.record)
        record = record.reserve(tuple(k for k in due if self.kinds[k].slot is Slot.NEEDS_EPOCH))
        if self.phase is Phase.OPENING:
            record = record.taken(record.owner("dialog").epoch)
        elif all(state.slot is Slot.OWNED or kind in due for kind, state in self.kinds.items()) and all(
            self.kinds[kind].slot is Slot.NEEDS_COMMIT for kind in due
        ):  # every kind owned once this lands: the holder is ready, earlier holders' tokens are spent
            record = msgspec.structs.replace(record, holder_ready=True)
        for kind in due:
            state = self.kinds[kind]
            if state.slot is Slot.NEEDS_COMMIT and state.worker_id is not None:
                record = record.assign(kind, state.worker_id)
            self._step(state, Input.WRITE_SENT)
        self._writing = record
        return [Write(record, self.revision)]

    def _replaced(self) -> list[Action]:
        self.phase = Phase.REPLACED
        return [Replaced()]
