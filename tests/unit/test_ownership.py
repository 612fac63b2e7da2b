"""The ownership machine (shared/ownership.py), transition by transition: compare-and-set writes, claims under
reserved epochs, suspected and draining owners, takeovers."""

import msgspec
import pytest

from shared.ownership import (
    SLOT_TABLE,
    Announce,
    Delete,
    GiveUp,
    OwnerLost,
    OwnershipMachine,
    Phase,
    Ready,
    Replaced,
    SendClaim,
    Slot,
    Write,
)
from shared.session_record import KindOwner, SessionRecord

SID = "a" * 32


def machine(record: SessionRecord | None = None, revision: int = 0, connection: str = "c1") -> OwnershipMachine:
    base = record or SessionRecord(session_id=SID, connection=connection)
    if record is not None:
        base = SessionRecord(session_id=SID, connection=connection, owners=record.owners,
                             last_turn_id=record.last_turn_id, audio_seq=record.audio_seq)  # fmt: skip
    return OwnershipMachine(record=base, revision=revision, confirm_s=0.5, retry_s=1.0)


def opened(m: OwnershipMachine, vad: str = "vad-1", dialog: str = "dialog-1") -> list[object]:
    """Open a new session and let both kinds be claimed; returns every action."""
    actions: list[object] = [*m.open(frozenset())]
    actions += m.write_done(1)
    actions += m.claimed("vad", 1, vad)
    actions += m.claimed("dialog", 1, dialog)
    actions += m.write_done(2)
    actions += m.write_done(3)
    return actions


def test_a_new_session_reserves_epochs_claims_records_and_announces() -> None:
    m = machine()
    [write] = m.open(frozenset())
    assert isinstance(write, Write) and write.revision == 0
    assert write.record.owners == {"vad": KindOwner(None, 1), "dialog": KindOwner(None, 1)}
    assert m.write_done(1) == [SendClaim("vad", 1, None), SendClaim("dialog", 1, None)]
    [commit] = m.claimed("vad", 1, "vad-1")
    assert isinstance(commit, Write) and commit.revision == 1 and commit.record.owner("vad").worker_id == "vad-1"
    assert m.claimed("dialog", 1, "dialog-1") == []  # one write at a time: it waits for the first
    announce, second = m.write_done(2)
    assert announce == Announce("vad", "vad-1", 1)
    assert isinstance(second, Write) and second.record.owner("dialog") == KindOwner("dialog-1", 1)
    assert m.write_done(3) == [Announce("dialog", "dialog-1", 1), Ready()]
    assert m.owner("vad") == "vad-1" and m.owner("dialog") == "dialog-1"


def test_what_a_session_waits_for_before_it_can_start() -> None:
    m = machine()
    m.open(frozenset())
    assert m.waiting_for() is None  # the record is not written yet: the session store
    m.write_done(1)
    assert m.waiting_for() == "vad"
    m.claimed("vad", 1, "vad-1")
    m.write_done(2)
    assert m.waiting_for() == "dialog"
    m.claimed("dialog", 1, "dialog-1")
    m.write_done(3)
    assert m.waiting_for() is None and m.ready


def test_a_resume_asks_the_recorded_live_owners_first_under_new_epochs() -> None:
    old = SessionRecord(session_id=SID, connection="c0", owners={"vad": KindOwner("vad-1", 3),
                        "dialog": KindOwner("dialog-1", 5)}, last_turn_id=7, audio_seq=900)  # fmt: skip
    m = machine(old, revision=10, connection="c2")
    [write] = m.open(frozenset({"vad-1"}))
    assert isinstance(write, Write) and write.revision == 10
    assert write.record.connection == "c2" and write.record.epochs() == (4, 6)
    assert write.record.last_turn_id == 7 and write.record.audio_seq == 900
    assert m.write_done(11) == [SendClaim("vad", 4, "vad-1"), SendClaim("dialog", 6, None)]


def test_a_direct_claim_nobody_answers_goes_to_the_queue_under_a_new_epoch() -> None:
    old = SessionRecord(session_id=SID, connection="c0", owners={"vad": KindOwner("vad-1", 1)})
    m = machine(old, revision=4)
    m.open(frozenset({"vad-1"}))
    m.write_done(5)
    [write] = m.claim_missed("vad", 2, now=0.0)
    assert isinstance(write, Write) and write.record.owner("vad").epoch == 3
    assert m.write_done(6) == [SendClaim("vad", 3, None)]


def test_a_late_answer_to_an_abandoned_epoch_is_ignored() -> None:
    m = machine()
    m.open(frozenset())
    m.write_done(1)
    m.claim_missed("vad", 1, now=0.0)
    assert m.claimed("vad", 1, "vad-slow") == []
    assert m.kinds["vad"].slot is Slot.BACKOFF


def test_a_new_session_gives_up_after_the_queue_attempts() -> None:
    m = machine()
    m.open(frozenset())
    m.write_done(1)
    now, revision = 0.0, 1
    for _ in range(2):
        assert m.claim_missed("vad", m.record.owner("vad").epoch, now) == []
        now += 1.0
        [write] = m.tick(now)
        assert isinstance(write, Write)
        revision += 1
        m.write_done(revision)
    assert m.claim_missed("vad", m.record.owner("vad").epoch, now) == [GiveUp("vad")]
    assert m.phase is Phase.CLOSED


def test_an_expired_owner_is_reclaimed_only_when_it_stays_gone() -> None:
    m = machine()
    opened(m)
    assert m.worker_gone("dialog-1", now=10.0) == []
    assert m.tick(10.4) == []
    m.worker_seen("dialog-1")
    assert m.tick(11.0) == [] and m.owner("dialog") == "dialog-1"
    m.worker_gone("dialog-1", now=20.0)
    lost, write = m.tick(20.5)
    assert lost == OwnerLost("dialog", crashed=True)
    assert isinstance(write, Write) and write.record.owner("dialog") == KindOwner("dialog-1", 2)
    assert m.write_done(4) == [SendClaim("dialog", 2, None)]


def test_a_draining_owner_is_moved_at_once_and_its_turn_is_not_lost() -> None:
    m = machine()
    opened(m)
    lost, write = m.worker_draining("vad-1")
    assert lost == OwnerLost("vad", crashed=False)
    assert isinstance(write, Write) and write.record.owner("vad").epoch == 2


def test_an_owner_that_expires_while_being_recorded_is_suspected_once_recorded() -> None:
    m = machine()
    m.open(frozenset())
    m.write_done(1)
    m.claimed("vad", 1, "vad-1")
    m.worker_gone("vad-1", now=5.0)
    m.claimed("dialog", 1, "dialog-1")
    m.write_done(2)
    m.write_done(3)
    assert m.kinds["vad"].slot is Slot.SUSPECT
    assert OwnerLost("vad", crashed=True) in m.tick(5.5)


def test_a_write_whose_reply_was_lost_but_landed_counts_as_done() -> None:
    m = machine()
    [write] = m.open(frozenset())
    assert isinstance(write, Write)
    assert m.write_conflict(write.record, 1) == [SendClaim("vad", 1, None), SendClaim("dialog", 1, None)]


def test_while_opening_a_conflict_with_another_socket_takes_the_session_over_again() -> None:
    theirs = SessionRecord(session_id=SID, connection="c9", owners={"vad": KindOwner("vad-2", 4),
                           "dialog": KindOwner("dialog-2", 4)})  # fmt: skip
    m = machine(SessionRecord(session_id=SID, connection="c0"), revision=3)
    m.open(frozenset())
    [write] = m.write_conflict(theirs, 8)
    assert isinstance(write, Write) and write.revision == 8
    assert write.record.connection == "c1" and write.record.epochs() == (5, 5)


def test_the_opening_write_takes_the_holder_and_the_write_that_makes_it_ready_says_so() -> None:
    old = SessionRecord(session_id=SID, connection="c0", owners={"dialog": KindOwner("dialog-1", 5)}, holder_epoch=2,
                        holder_ready=True)  # fmt: skip
    mine = msgspec.structs.replace(old, connection="c2")  # as gateway/owners.py opens it
    m = OwnershipMachine(record=mine, revision=10, confirm_s=0.5, retry_s=1.0, admitted_epoch=5)
    [write] = m.open(frozenset())
    assert isinstance(write, Write) and write.record.owner("dialog").epoch == 6
    assert (write.record.holder_epoch, write.record.holder_ready, write.record.prior_epoch) == (6, False, 2)
    m.write_done(11)
    [first] = m.claimed("vad", 1, "vad-1")
    assert isinstance(first, Write) and not first.record.holder_ready  # dialog still to be claimed
    m.claimed("dialog", 6, "dialog-2")
    [*_, last] = m.write_done(12)
    assert isinstance(last, Write) and last.record.holder_ready and last.record.holder_epoch == 6
    assert Ready() in m.write_done(13)
    _, moved = m.worker_draining("dialog-2")  # an owner that moves raises the dialog epoch, not the holder's
    assert isinstance(moved, Write) and moved.record.owner("dialog").epoch == 7
    assert (moved.record.holder_epoch, moved.record.holder_ready) == (6, True)


@pytest.mark.parametrize(
    ("ready", "prior", "admitted", "replaced"),
    [(True, 0, 3, True), (True, 0, 4, False), (False, 2, 3, False), (False, 2, 1, True)],
)
def test_while_opening_a_record_that_no_longer_accepts_the_resume_token_means_replaced(
    ready: bool, prior: int, admitted: int, replaced: bool
) -> None:
    """Two sockets resuming with one token: once the winner is ready the token is spent and the loser replaced;
    before, the loser takes the session again (the token is still the holder's) and the winner is replaced."""
    theirs = SessionRecord(session_id=SID, connection="c9", owners={"dialog": KindOwner("dialog-2", 4)}, holder_epoch=4,
                           holder_ready=ready, prior_epoch=prior)  # fmt: skip
    m = OwnershipMachine(record=SessionRecord(session_id=SID, connection="c1"), revision=3, confirm_s=0.5,
                         retry_s=1.0, admitted_epoch=admitted)  # fmt: skip
    m.open(frozenset())
    actions = m.write_conflict(theirs, 8)
    assert (actions == [Replaced()]) is replaced
    if not replaced:
        [write] = actions
        assert isinstance(write, Write) and write.record.holder_epoch == 5
        assert write.record.prior_epoch == (4 if ready else prior)  # the chain of unready takeovers keeps it


def test_a_record_accepts_its_holders_tokens_and_the_previous_ones_until_the_holder_is_ready() -> None:
    spent = SessionRecord(session_id=SID, connection="c1", holder_epoch=3, holder_ready=True)
    assert spent.accepts(3) and spent.accepts(9) and not spent.accepts(2)
    taking = spent.taken(5)
    assert taking.accepts(3) and taking.accepts(5) and not taking.accepts(2)
    again = taking.taken(6)  # taken again before the holder was ready: still the last ready holder's tokens
    assert again.prior_epoch == 3 and again.accepts(3)
    ready = msgspec.structs.replace(again, holder_ready=True)
    assert not ready.accepts(5) and ready.accepts(6)


def test_once_open_a_record_of_another_socket_means_replaced() -> None:
    m = machine()
    opened(m)
    m.worker_draining("vad-1")
    theirs = SessionRecord(session_id=SID, connection="c9")
    assert m.write_conflict(theirs, 9) == [Replaced()]
    assert m.phase is Phase.REPLACED and m.tick(100.0) == [] and m.close(ended=False) == []


def test_an_event_of_an_epoch_never_reserved_here_means_replaced() -> None:
    m = machine()
    opened(m)
    assert m.newer_epoch("dialog", 1) == []
    assert m.newer_epoch("dialog", 2) == [Replaced()]


def test_close_records_progress_or_deletes_an_ended_session() -> None:
    m = machine()
    opened(m)
    m.progress.last_turn_id, m.progress.audio_seq = 4, 1234
    [write] = m.close(ended=False)
    assert isinstance(write, Write) and write.revision == 3
    assert (write.record.last_turn_id, write.record.audio_seq) == (4, 1234)
    ended = machine()
    opened(ended)
    assert ended.close(ended=True) == [Delete(3)]


def test_every_table_entry_is_reachable_from_a_phase_that_is_left() -> None:
    targets = set(SLOT_TABLE.values())
    sources = {phase for phase, _ in SLOT_TABLE}
    assert set(Slot) == targets | sources and sources == set(Slot)
