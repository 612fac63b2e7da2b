"""The terminal client's turn watch: which event ends its wait, and how."""

from shared.protocol import AudioEnd, AudioResponse, Error, Interrupted, ResponseText
from voice_client.turn import Outcome, TurnWatch


def test_audio_end_completes_a_turn_and_other_events_do_not() -> None:
    watch = TurnWatch(barge_in_after_ms=None)
    assert watch.feed(ResponseText(turn_id=1, text="hi"), 0.0) is None
    assert watch.feed(AudioResponse(turn_id=1, seq=0, data="", sample_rate=16000), 0.0) is None
    assert watch.feed(AudioEnd(turn_id=1), 0.1) is Outcome.COMPLETED


def test_any_error_answers_the_request() -> None:
    watch = TurnWatch(barge_in_after_ms=None)
    assert watch.feed(Error(code="rate_limited", message="m", fatal=False), 0.0) is Outcome.ERROR


def test_interrupted_ends_the_wait_only_after_our_barge_in() -> None:
    watch = TurnWatch(barge_in_after_ms=100)
    assert watch.feed(Interrupted(turn_id=1), 0.0) is None
    watch.feed(AudioResponse(turn_id=2, seq=0, data="", sample_rate=16000), 1.0)
    assert not watch.barge_in_now(1.05)
    assert watch.barge_in_now(1.1)
    assert watch.feed(Interrupted(turn_id=2), 1.2) is Outcome.INTERRUPTED


def test_an_answer_that_ends_before_the_barge_in_is_reported() -> None:
    watch = TurnWatch(barge_in_after_ms=100)
    watch.feed(AudioResponse(turn_id=1, seq=0, data="", sample_rate=16000), 1.0)
    assert watch.feed(AudioEnd(turn_id=1), 1.05) is Outcome.NO_BARGE_IN
