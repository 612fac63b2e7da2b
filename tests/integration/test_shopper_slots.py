"""The shopper slots and ended sessions (gateway/shopper_kv.py) on a real nats-server, two directories standing for
two gateways: many opens racing over both never pass the cap, a slot taken over by another gateway is let go, and
a gateway cut off longer than the TTL takes a slot again if one is free (and leaves its socket uncounted if not),
and a shopper's turns a minute are counted across both."""

import asyncio
import time
from collections.abc import AsyncIterator
from functools import partial

import pytest
from nats.aio.client import Client as NATS

from gateway.limits import TurnBudget
from gateway.shopper_kv import KvShoppers
from shared import subjects
from shared.settings import GatewaySettings

TTL_S = 1.0
SETTINGS = GatewaySettings(
    max_sessions_per_shopper=3, shopper_slot_ttl_s=TTL_S, turns_per_minute_shopper=4, resume_secret="r" * 40
)


def sid(index: int) -> str:
    return f"{index:032x}"


@pytest.fixture
async def two(nc: NATS) -> AsyncIterator[tuple[KvShoppers, KvShoppers]]:
    """Two gateways' directories on one server (no refresh loop: the tests refresh by hand)."""
    js = nc.jetstream()
    first = await KvShoppers.open_buckets(js, SETTINGS)
    yield first, KvShoppers(first.slots, first.ended_kv, SETTINGS)
    for bucket in (subjects.SHOPPERS_BUCKET, subjects.ENDED_BUCKET):
        await js.delete_key_value(bucket)


async def test_opens_racing_over_two_gateways_never_pass_the_cap(two: tuple[KvShoppers, KvShoppers]) -> None:
    opens = [two[i % 2].open("sub:racer", sid(i)) for i in range(12)]
    admitted = [i for i, ok in enumerate(await asyncio.gather(*opens)) if ok]
    assert len(admitted) == 3
    assert await two[0].open("sub:other", sid(99))  # another shopper has its own slots
    await two[admitted[0] % 2].close("sub:racer", sid(admitted[0]))
    assert await two[1].open("sub:racer", sid(50)) and not await two[0].open("sub:racer", sid(51))


async def test_a_second_socket_of_a_session_takes_its_slot_over(two: tuple[KvShoppers, KvShoppers]) -> None:
    first, second = two
    for i in range(3):
        assert await first.open("sub:mover", sid(i))
    assert await second.open("sub:mover", sid(0))  # a resume elsewhere: not a fourth session
    await first._refresh_all()  # the first gateway finds its slot taken over and lets it go
    await first.close("sub:mover", sid(0))  # ...so its socket's close leaves the second's slot alone
    assert not await first.open("sub:mover", sid(7))
    await second.close("sub:mover", sid(0))
    assert await first.open("sub:mover", sid(7))


async def test_a_gateway_cut_off_past_the_ttl_takes_a_slot_again_or_leaves_the_socket_uncounted(
    two: tuple[KvShoppers, KvShoppers],
) -> None:
    first, second = two
    for i in range(3):
        assert await first.open("sub:cut", sid(i))
    await asyncio.sleep(TTL_S + 0.5)  # no refresh: every slot aged out
    assert await second.open("sub:cut", sid(10)) and await second.open("sub:cut", sid(11))
    await first._refresh_all()  # one slot is left: the first of its sessions gets it, the others go uncounted
    assert not await second.open("sub:cut", sid(12))
    await second.close("sub:cut", sid(10))
    assert await second.open("sub:cut", sid(12))


async def test_an_ended_session_is_known_to_every_gateway_until_its_tokens_expire(
    two: tuple[KvShoppers, KvShoppers],
) -> None:
    first, second = two
    await first.end(sid(5), until=time.time() + 1.0)
    assert await second.ended(sid(5), time.time()) and not await second.ended(sid(6), time.time())
    await asyncio.sleep(2.2)  # the marker's TTL is whole seconds, at least one
    assert not await second.ended(sid(5), time.time())


async def test_turns_a_minute_per_shopper_hold_across_gateways_each_at_most_one_turn_behind(
    two: tuple[KvShoppers, KvShoppers],
) -> None:
    now = time.monotonic()
    budgets = []
    for shoppers in two:
        bucket = shoppers.turn_bucket("sub:talker", now)
        budgets.append(
            (shoppers, TurnBudget(100, bucket, 100, now, partial(shoppers.turn_taken, "sub:talker", bucket)))
        )

    async def turns(index: int, count: int) -> list[bool]:
        """Turns one after the other on one gateway, each charged before the next (as messages of a socket)."""
        shoppers, budget = budgets[index]
        allowed = []
        for _ in range(count):
            allowed.append(budget.refuse(None, now) is None)
            await asyncio.gather(*shoppers._charges)
        return allowed

    assert await turns(0, 2) == [True, True] and await turns(1, 2) == [True, True]  # the budget (4) is spent
    assert await turns(1, 1) == [False]  # the second gateway charged the last turns: it knows
    assert await turns(0, 2) == [True, False]  # the first was one turn behind, then learns
    other = two[0].turn_bucket("sub:quiet", now)
    assert TurnBudget(100, other, 100, now).refuse(None, now) is None  # another shopper is not disturbed
