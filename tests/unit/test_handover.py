"""The turn a draining dialog owner still finishes, as the gateway sees it (gateway/handover.py), event by event."""

import pytest

from gateway.handover import After, Handover

OLD, NEW = 3, 4  # the draining owner's dialog epoch, the new owner's


def test_only_the_handed_over_turn_of_the_draining_owner_is_admitted() -> None:
    handover = Handover(OLD, 7)
    assert handover.admits(OLD, 7)
    assert not handover.admits(OLD, 8) and not handover.admits(OLD, 6) and not handover.admits(OLD, None)
    assert not handover.admits(2, 7)  # an owner older still


@pytest.mark.parametrize(
    ("epoch", "turn", "kind", "ends", "after", "turn_after"),
    [
        (OLD, 7, "audio_response", False, After.KEEP, 7),
        (OLD, 6, "interrupted", True, After.KEEP, 7),  # an older turn: the turn tracker drops it
        (OLD, 7, "audio_end", True, After.DONE, 7),
        (OLD, 7, "error", True, After.DONE, 7),
        (NEW, 7, "interrupted", True, After.DONE, 7),  # not the draining owner's: nothing of its follows
        (OLD, 7, "interrupted", True, After.FOLLOW, 8),  # speech over its answer: its next turn may be its own
        (NEW, 8, "speech_started", False, After.SUPERSEDED, 7),  # the new owner's next turn speaks first
        (OLD, 8, "speech_started", False, After.SUPERSEDED, 7),  # more than the draining owner may open
    ],
)
def test_what_each_event_does(epoch: int, turn: int, kind: str, ends: bool, after: After, turn_after: int) -> None:
    handover = Handover(OLD, 7)
    assert handover.event(epoch, turn, kind, ends) is after
    assert handover.turn == turn_after


def test_a_barge_in_the_draining_owner_confirmed_before_it_learned_of_the_move_is_finished_by_it() -> None:
    """It paused answer 7 for speech, then heard words in it (interrupted{7}, speech_started{8}, all under its old
    epoch) just after the gateway moved the session: turn 8 is its own, and relayed until it ends."""
    handover = Handover(OLD, 7)
    assert handover.event(OLD, 7, "paused", False) is After.KEEP
    assert handover.event(OLD, 7, "interrupted", True) is After.FOLLOW
    assert handover.admits(OLD, 8)
    assert handover.event(OLD, 8, "speech_started", False) is After.TAKEN  # the new owner numbers past 8
    for kind in ("transcript", "speech_ended", "audio_response"):
        assert handover.admits(OLD, 8)
        assert handover.event(OLD, 8, kind, False) is After.KEEP
    assert handover.event(OLD, 8, "audio_end", True) is After.DONE


def test_speech_passed_to_the_new_owner_is_its_turn() -> None:
    """The draining owner interrupted answer 7 and handed the speech over: the new owner opens turn 8."""
    handover = Handover(OLD, 7)
    assert handover.event(OLD, 7, "interrupted", True) is After.FOLLOW
    assert handover.event(NEW, 8, "speech_started", False) is After.KEEP
    assert handover.event(NEW, 8, "audio_end", True) is After.DONE


def test_the_new_owner_is_told_once_when_the_draining_owner_speaks_in_a_turn_of_its_own() -> None:
    handover = Handover(OLD, 7)
    assert handover.event(OLD, 7, "interrupted", True) is After.FOLLOW
    assert handover.event(OLD, 8, "speech_started", False) is After.TAKEN
    assert handover.event(OLD, 8, "transcript", False) is After.KEEP
    assert handover.event(OLD, 8, "interrupted", True) is After.DONE  # one turn of its own at most


def test_nothing_is_taken_before_a_follow() -> None:
    handover = Handover(OLD, 7)
    assert handover.event(OLD, 7, "speech_started", False) is After.KEEP
    assert not handover.followed and not handover.told
