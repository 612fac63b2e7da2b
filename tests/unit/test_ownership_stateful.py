"""Ownership moves in any order (hypothesis stateful): sockets opening and resuming the same session against one
compare-and-set store, workers claiming, crashing, coming back and draining, replies delivered in any order.

Invariants: no epoch of a kind is ever claimed twice (so never two owners acting in one epoch), announcements name
the worker that claimed that epoch, recorded epochs only grow, the socket holding the session is never left
without an owner of a kind for longer than the re-claim time while a worker of that kind is alive, and a resume
token (any one issued so far, the holder's or an earlier socket's) takes the session only from a record that still
accepts it: once a later holder is ready, older tokens are spent.
"""

from dataclasses import dataclass, field

import msgspec
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from shared.ownership import (
    Action,
    Announce,
    GiveUp,
    OwnershipMachine,
    Phase,
    Ready,
    Replaced,
    SendClaim,
    Slot,
    Write,
)
from shared.session_record import SessionRecord
from shared.subjects import WORKER_KINDS, WorkerKind

SID = "b" * 32
CONFIRM_S, RETRY_S = 0.5, 1.0


@dataclass
class Store:
    record: SessionRecord | None = None
    revision: int = 0

    def cas(self, record: SessionRecord, expected: int) -> bool:
        if expected != self.revision:
            return False
        self.record, self.revision = record, self.revision + 1
        return True


@dataclass
class Socket:
    machine: OwnershipMachine
    pending: list[Action] = field(default_factory=list)


class OwnershipMoves(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.store = Store()
        self.now = 0.0
        self.sockets: list[Socket] = []
        self.workers: dict[WorkerKind, dict[str, bool]] = {kind: {} for kind in WORKER_KINDS}  # id -> alive
        self.claimed: dict[tuple[str, int], str] = {}  # (kind, epoch) -> worker that took it
        self.epochs_seen: dict[str, int] = {kind: 0 for kind in WORKER_KINDS}
        self.tokens: list[int] = []  # the dialog epoch of every resume token issued (at each socket's Ready)
        self.serial = 0
        for kind in WORKER_KINDS:
            self._add_worker(kind)

    def _add_worker(self, kind: WorkerKind) -> None:
        self.serial += 1
        self.workers[kind][f"{kind}-{self.serial}"] = True

    def _live(self) -> frozenset[str]:
        return frozenset(w for kind in WORKER_KINDS for w, alive in self.workers[kind].items() if alive)

    def _holder(self) -> Socket | None:
        record = self.store.record
        for socket in self.sockets:
            holds = record is not None and socket.machine.record.connection == record.connection
            if holds and socket.machine.phase in (Phase.OPEN, Phase.OPENING):
                return socket
        return None

    # -- the environment ---------------------------------------------------------------------------------------

    @rule(data=st.data())
    def open_socket(self, data: st.DataObject) -> None:
        """A new socket (a new session at first, then a resume on any gateway with any token issued so far)
        takes the session, when the record accepts its token (gateway/owners.py checks it so)."""
        connection = f"c{len(self.sockets)}"
        token = data.draw(st.sampled_from(self.tokens)) if self.tokens else 0
        if self.store.record is not None and not self.store.record.accepts(token):
            return  # refused: session_not_found
        base = self.store.record or SessionRecord(session_id=SID, connection=connection)
        record = msgspec.structs.replace(base, connection=connection)
        machine = OwnershipMachine(
            record=record, revision=self.store.revision, confirm_s=CONFIRM_S, retry_s=RETRY_S, admitted_epoch=token
        )
        socket = Socket(machine)
        self.sockets.append(socket)
        socket.pending += machine.open(self._live())

    @rule(kind=st.sampled_from(WORKER_KINDS))
    def add_worker(self, kind: WorkerKind) -> None:
        self._add_worker(kind)

    def _switch(self, data: st.DataObject, alive: bool) -> str | None:
        """Pick a worker that is `alive` (or not) and flip it."""
        candidates = sorted(w for kind in WORKER_KINDS for w, ok in self.workers[kind].items() if ok == alive)
        if not candidates:
            return None
        worker = data.draw(st.sampled_from(candidates))
        self.workers["vad" if worker.startswith("vad") else "dialog"][worker] = not alive
        return worker

    @rule(data=st.data())
    def crash_worker(self, data: st.DataObject) -> None:
        worker = self._switch(data, alive=True)
        for socket in self.sockets if worker else ():
            socket.pending += socket.machine.worker_gone(worker or "", self.now)

    @rule(data=st.data())
    def worker_comes_back(self, data: st.DataObject) -> None:
        """A stalled worker whose key expired beats again (a pause, not a crash)."""
        worker = self._switch(data, alive=False)
        for socket in self.sockets if worker else ():
            socket.pending += socket.machine.worker_seen(worker or "")

    @rule(data=st.data())
    def drain_worker(self, data: st.DataObject) -> None:
        worker = self._switch(data, alive=True)
        for socket in self.sockets if worker else ():
            socket.pending += socket.machine.worker_draining(worker or "")

    @rule(dt=st.sampled_from((0.1, 0.3, 0.6, 1.2)))
    def time_passes(self, dt: float) -> None:
        self.now += dt
        for socket in self.sockets:
            socket.pending += socket.machine.tick(self.now)

    @rule(data=st.data(), lose_reply=st.booleans())
    def deliver(self, data: st.DataObject, lose_reply: bool) -> None:
        """Carry out one pending action of one socket (sockets race: any order)."""
        busy = [socket for socket in self.sockets if socket.pending]
        if busy:
            socket = data.draw(st.sampled_from(busy))
            self._carry_out(socket, socket.pending.pop(0), lose_reply, data)

    @rule(data=st.data())
    def settle(self, data: st.DataObject) -> None:
        """Every reply arrives; then nothing may be left waiting without a deadline."""
        for _ in range(200):
            busy = [socket for socket in self.sockets if socket.pending]
            if not busy:
                break
            socket = busy[0]
            self._carry_out(socket, socket.pending.pop(0), False, data)
        self._check_owned()

    def _carry_out(self, socket: Socket, action: Action, lose_reply: bool, data: st.DataObject) -> None:
        machine = socket.machine
        match action:
            case Write(record=record, revision=revision):
                before = self.store.record
                if self.store.cas(record, revision):
                    if before is not None and before.connection != record.connection:  # a takeover landed
                        assert before.accepts(machine.admitted_epoch), "a spent token took the session"
                    for kind in WORKER_KINDS:
                        assert record.owner(kind).epoch >= self.epochs_seen[kind], "epochs only grow"
                        self.epochs_seen[kind] = record.owner(kind).epoch
                    if lose_reply:  # the write landed but its reply was lost: the machine re-reads
                        socket.pending += machine.write_conflict(self.store.record, self.store.revision)
                    else:
                        socket.pending += machine.write_done(self.store.revision)
                else:
                    socket.pending += machine.write_conflict(self.store.record, self.store.revision)
            case SendClaim(kind=kind, epoch=epoch, direct=direct):
                assert (kind, epoch) not in self.claimed, f"{kind} epoch {epoch} claimed twice"
                alive = sorted(w for w, ok in self.workers[kind].items() if ok)
                if direct is not None:
                    alive = [direct] if direct in alive else []
                if alive:
                    worker = data.draw(st.sampled_from(alive))
                    self.claimed[(kind, epoch)] = worker
                    if lose_reply:  # the worker took it, but its answer came too late
                        socket.pending += machine.claim_missed(kind, epoch, self.now)
                    else:
                        socket.pending += machine.claimed(kind, epoch, worker)
                else:
                    self.now += 0.1  # the claim times out
                    socket.pending += machine.claim_missed(kind, epoch, self.now)
            case Announce(kind=kind, worker_id=worker, epoch=epoch):
                assert self.claimed.get((kind, epoch)) == worker, "announced owner is the one that claimed"
            case Ready():
                self.tokens.append(machine.record.owner("dialog").epoch)  # session_start (and later ones) carry it
            case GiveUp() | Replaced():
                socket.pending.clear()
            case _:
                pass

    def _check_owned(self) -> None:
        holder = self._holder()
        if holder is None or holder.machine.phase is not Phase.OPEN:
            return
        for kind, state in holder.machine.kinds.items():
            any_alive = any(self.workers[kind].values())
            if state.slot is Slot.SUSPECT:
                assert self.now - state.since < CONFIRM_S + 1.3, "a lost owner is re-claimed in time"
            elif state.slot is Slot.BACKOFF:
                assert state.since <= self.now + RETRY_S
            else:
                assert state.slot is Slot.OWNED or not any_alive, f"{kind} left {state.slot} with workers alive"

    @invariant()
    def one_socket_holds_the_session(self) -> None:
        record = self.store.record
        holders = [s for s in self.sockets if record is not None and s.machine.record.connection == record.connection]
        assert len(holders) <= 1

    @precondition(lambda self: bool(self.sockets))
    @invariant()
    def owners_are_recorded_claimers(self) -> None:
        for socket in self.sockets:
            for kind in WORKER_KINDS:
                owner = socket.machine.owner(kind)
                if owner is not None:
                    assert owner in self.claimed.values()


OwnershipMoves.TestCase.settings = settings(max_examples=200, stateful_step_count=40, deadline=None)
test_ownership_moves = OwnershipMoves.TestCase
