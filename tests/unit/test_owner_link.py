"""The gateway's owner tracker across a drop of its NATS link (gateway/owners.py): on reconnect, a turn under way
when the link dropped is reported lost (its events may be gone); a request typed while it was down is not (the
client library buffered it and sent it on reconnect)."""

from typing import cast

from nats.aio.client import Client as NATS

from gateway.owners import OwnerTracker, SessionOwners
from gateway.turns import TurnTracker
from shared.ownership import OwnershipMachine
from shared.session_record import SessionRecord
from shared.settings import GatewaySettings


def session(tracker: OwnerTracker, session_id: str) -> SessionOwners:
    record = SessionRecord(session_id=session_id, connection="c1")
    machine = OwnershipMachine(record=record, revision=0, confirm_s=0.5, retry_s=1.0)
    owners = SessionOwners(session_id, machine, TurnTracker(last_turn_id=2))
    tracker.sessions[session_id] = owners
    return owners


async def test_only_a_turn_under_way_when_the_link_dropped_is_lost() -> None:
    tracker = OwnerTracker(cast(NATS, None), GatewaySettings())  # the link hooks touch no connection
    speaking, typing, idle = (session(tracker, c * 32) for c in "abc")
    speaking.turns.event(3, ends=False)
    await tracker.nats_disconnected()
    typing.turns.request("show me shoes", due=10.0)
    await tracker.nats_reconnected()
    assert speaking.turn_lost.is_set()
    assert not typing.turn_lost.is_set() and typing.turns.busy
    assert not idle.turn_lost.is_set()
