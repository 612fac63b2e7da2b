"""Per-shopper limits and resume tokens across gateways (gateway/shopper_kv.py, docs/protocol.md "Limits"): a
real nats-server and two real gateways. A shopper's sessions are capped over both, a race for the last slot has
one winner, a closed socket frees its slot, a crashed gateway's slots age out within their TTL, an ended session's
token is refused on the other gateway, a token of a socket whose session was taken over is refused (but may be
tried again when the resume it let in was cut before its `session_start`), and a shopper's turns a minute are
counted over both gateways."""

import asyncio
import signal
import time
from collections.abc import Iterator

import aiohttp
import nats
import pytest

from harness.procs import Service, wait_http
from harness.stack import Stack, running_stack
from shared import subjects
from shared.session_record import record_decoder
from tests.hardening.test_auth_and_limits import SECRET, still_works, token, turn_limits
from voice_client.recorder import VoiceClient, connect

CAP, SLOT_TTL_S = 5, 6.0
FREED_WITHIN_S = 2.0  # a closed socket frees its slot at once: well before its TTL could have
ENV = {
    "VOICECHAT_AUTH_SECRET": SECRET,
    "VOICECHAT_AUTH_AUDIENCE": "voicechat",
    "VOICECHAT_MAX_SESSIONS_PER_SHOPPER": str(CAP),
    "VOICECHAT_SHOPPER_SLOT_TTL_S": str(SLOT_TTL_S),
    "VOICECHAT_TURNS_PER_MINUTE_SHOPPER": "4",
}


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with running_stack(("vad_worker", "dialog_worker", "gateway", "gateway"), ENV) as running:
        for gateway in gateways(running):
            wait_http(gateway.base_url + "/readyz")
        yield running


def gateways(stack: Stack) -> list[Service]:
    """The module's two gateways (a test may add and crash a third)."""
    return [s for s in stack.services if s.module == "gateway"][:2]


async def outcome(http: aiohttp.ClientSession, gateway: Service, jwt_: str, resume: str | None = None) -> VoiceClient:
    """A socket that either started its session or was refused (its error and close code are then in)."""
    client = await connect(http, gateway.base_url, wait_start=False, token=jwt_, resume=resume)
    first = await client.wait_for(lambda e: e["type"] in ("session_start", "error"))
    if first["type"] == "session_start":
        client.start = first
    else:
        await asyncio.wait_for(client._reader, 5)
    return client


async def started_within(http: aiohttp.ClientSession, gateway: Service, jwt_: str, seconds: float) -> VoiceClient:
    """A session that starts within `seconds` (a slot being freed lands a moment after the client's close)."""
    deadline = time.monotonic() + seconds
    while not (client := await outcome(http, gateway, jwt_)).start:
        assert time.monotonic() < deadline, "no slot came free"
        await asyncio.sleep(0.1)
    return client


def refused_for_the_shopper(client: VoiceClient) -> bool:
    errors = client.of_type("error")
    return (
        client.start == {}
        and [e["code"] for e in errors] == ["rate_limited"]
        and errors[0]["fatal"] is True
        and "shopper" in errors[0]["message"]
        and client.ws.close_code == 1008
    )


async def open_sessions(http: aiohttp.ClientSession, stack: Stack, jwt_: str, count: int) -> list[VoiceClient]:
    """`count` sessions of one shopper, alternating between the gateways."""
    first, second = gateways(stack)[:2]
    return [await connect(http, (first, second)[i % 2].base_url, token=jwt_) for i in range(count)]


async def close_all(clients: list[VoiceClient]) -> None:
    for client in clients:
        await client.close()


async def test_the_sixth_session_over_two_gateways_is_refused_and_nothing_else_is_disturbed(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    shopper = token()
    first, second = gateways(stack)
    clients = await open_sessions(http, stack, shopper, CAP)  # three on the first gateway, two on the second
    for gateway in (first, second):
        assert refused_for_the_shopper(await outcome(http, gateway, shopper))
    other = await connect(http, second.base_url, token=token())  # another shopper is not disturbed
    for client in [*clients, other]:
        await still_works(client)
    await clients[0].close()  # a closed socket frees its slot, for either gateway
    again = await started_within(http, second, shopper, FREED_WITHIN_S)
    assert refused_for_the_shopper(await outcome(http, first, shopper))
    await close_all([*clients[1:], other, again])


async def test_two_gateways_racing_for_the_last_slot_one_wins(stack: Stack, http: aiohttp.ClientSession) -> None:
    first, second = gateways(stack)
    for _ in range(3):
        shopper = token()
        clients = await open_sessions(http, stack, shopper, CAP - 1)
        racers = await asyncio.gather(outcome(http, first, shopper), outcome(http, second, shopper))
        winners = [racer for racer in racers if racer.start]
        assert len(winners) == 1 and all(refused_for_the_shopper(r) for r in racers if not r.start)
        await close_all([*clients, *winners])


async def test_a_resume_on_the_other_gateway_keeps_its_slot(stack: Stack, http: aiohttp.ClientSession) -> None:
    shopper = token()
    first, second = gateways(stack)
    clients = await open_sessions(http, stack, shopper, CAP)
    moved = clients[0]  # on the first gateway, still open: the resume takes the session over
    resumed = await outcome(http, second, shopper, resume=moved.resume_token)
    assert resumed.start["session_id"] == moved.start["session_id"]
    assert (await moved.wait_for("error"))["code"] == "session_replaced"
    await asyncio.wait_for(moved._reader, 5)
    await asyncio.sleep(SLOT_TTL_S / 3 + 0.5)  # the first gateway's refresh lets go of the slot taken over
    assert refused_for_the_shopper(await outcome(http, first, shopper))  # still five sessions, not six
    await resumed.close()
    freed = await started_within(http, first, shopper, FREED_WITHIN_S)  # the resumed socket's close freed it
    await close_all([*clients[1:], freed])


async def test_a_crashed_gateways_slots_age_out_within_their_ttl(stack: Stack, http: aiohttp.ClientSession) -> None:
    shopper = token()
    doomed = stack.add("gateway")
    try:
        wait_http(doomed.base_url + "/readyz")
        clients = [await connect(http, doomed.base_url, token=shopper) for _ in range(CAP)]
        survivor = gateways(stack)[0]
        assert refused_for_the_shopper(await outcome(http, survivor, shopper))
    finally:
        doomed.kill()
    killed_at = time.monotonic()
    assert refused_for_the_shopper(await outcome(http, survivor, shopper))  # its last refresh still holds them
    fresh = [await started_within(http, survivor, shopper, SLOT_TTL_S + 2)]
    assert time.monotonic() - killed_at > SLOT_TTL_S / 2  # freed by the TTL, not by anything the crash did
    fresh += [await started_within(http, survivor, shopper, SLOT_TTL_S + 2) for _ in range(CAP - 1)]  # each ages out
    assert refused_for_the_shopper(await outcome(http, survivor, shopper))
    await close_all(fresh)
    for client in clients:
        await asyncio.wait_for(client._reader, 5)


async def test_an_ended_sessions_token_is_refused_on_the_other_gateway(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    shopper = token()
    first, second = gateways(stack)
    dropped = await connect(http, first.base_url, token=shopper)
    await dropped.ws.close()  # dropped, not ended: resumes on the other gateway
    resumed = await outcome(http, second, shopper, resume=dropped.resume_token)
    assert resumed.start["resumed"] is True
    await resumed.send({"type": "end_session"})
    await asyncio.wait_for(resumed._reader, 5)
    for gateway in (first, second):
        refused = await outcome(http, gateway, shopper, resume=resumed.resume_token)
        assert [e["code"] for e in refused.of_type("error")] == ["session_not_found"]


async def test_a_token_of_a_socket_whose_session_was_taken_over_is_refused(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    shopper = token()
    first, second = gateways(stack)
    original = await connect(http, first.base_url, token=shopper)
    old_token = original.resume_token
    await original.ws.close()
    taker = await outcome(http, second, shopper, resume=old_token)
    assert taker.start["resumed"] is True
    await taker.ws.close()
    for gateway in (first, second):  # the old token let one socket in; the session is the taker's now
        refused = await outcome(http, gateway, shopper, resume=old_token)
        assert [e["code"] for e in refused.of_type("error")] == ["session_not_found"]
    again = await outcome(http, first, shopper, resume=taker.resume_token)  # the taker's own token still works
    assert again.start["session_id"] == original.start["session_id"]
    await again.send({"type": "end_session"})
    await asyncio.wait_for(again._reader, 5)


async def holder_epoch(stack: Stack, session_id: str) -> int:
    nc = await nats.connect(stack.nats.url)
    try:
        entry = await (await nc.jetstream().key_value(subjects.SESSIONS_BUCKET)).get(session_id)
        return record_decoder.decode(entry.value or b"").holder_epoch
    finally:
        await nc.close()


async def test_a_resume_cut_before_its_session_start_can_be_retried_with_the_same_token(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    shopper = token()
    first, second = gateways(stack)
    original = await connect(http, first.base_url, token=shopper)
    session_id, spent = original.start["session_id"], original.resume_token
    await original.ws.close()
    before = await holder_epoch(stack, session_id)
    dialog = next(s for s in stack.services if s.module == "dialog_worker")
    dialog.signal(signal.SIGSTOP)  # the resumed socket cannot get ready: its claim waits for the stopped worker
    try:
        cut = await connect(http, second.base_url, wait_start=False, token=shopper, resume=spent)
        deadline = time.monotonic() + 5
        while await holder_epoch(stack, session_id) == before:  # its takeover is in the record
            assert time.monotonic() < deadline, "the resume did not take the session over"
            await asyncio.sleep(0.05)
        assert cut.of_type("session_start") == []
        await cut.close()  # cut before its session_start
    finally:
        dialog.signal(signal.SIGCONT)
    retry = await outcome(http, first, shopper, resume=spent)
    assert retry.start["session_id"] == session_id and retry.start["resumed"] is True
    refused = await outcome(http, second, shopper, resume=spent)  # the retry got ready: the old token is spent now
    assert [e["code"] for e in refused.of_type("error")] == ["session_not_found"]
    await retry.send({"type": "end_session"})
    await asyncio.wait_for(retry._reader, 5)


async def test_turns_a_minute_per_shopper_count_over_both_gateways(stack: Stack, http: aiohttp.ClientSession) -> None:
    shopper = token()
    first, second = gateways(stack)
    here, there = (
        await connect(http, first.base_url, token=shopper),
        await connect(http, second.base_url, token=shopper),
    )

    async def turn(client: VoiceClient) -> None:
        await client.send({"type": "start_speaking"})
        await client.send({"type": "stop_speaking"})
        await still_works(client)
        await asyncio.sleep(0.3)  # its charge to the shopper's ledger lands

    for client in (here, here, there, there):  # the budget (4 a minute) spent over both gateways
        await turn(client)
    assert turn_limits(here) == turn_limits(there) == []
    await turn(there)
    assert turn_limits(there) == ["too many turns a minute for this shopper"]
    await turn(here)  # this gateway was a turn behind: it learns from this turn's charge
    await turn(here)
    assert turn_limits(here) == ["too many turns a minute for this shopper"]
    await close_all([here, there])


async def test_the_gateways_stayed_healthy(stack: Stack, http: aiohttp.ClientSession) -> None:
    for gateway in gateways(stack):
        async with http.get(gateway.base_url + "/readyz") as response:
            assert response.status == 200
        assert "Traceback" not in gateway.output()
