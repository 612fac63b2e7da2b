"""Per-shopper limits (gateway/shoppers.py, gateway/limits.py): sessions at once, turns a minute per session and
per shopper, text_input length, and the ended-session list that resume checks; pure, time passed in."""

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from gateway.limits import TokenBucket, TurnBudget
from gateway.shoppers import LocalShoppers, digest, digest_key, slots_to_try
from shared.settings import GatewaySettings


async def test_a_shopper_opens_at_most_n_sessions_and_a_resume_is_not_another() -> None:
    shoppers = LocalShoppers(max_sessions=2, turns_per_minute=60)
    assert await shoppers.open("sub:a", "s1") and await shoppers.open("sub:a", "s2")
    assert not await shoppers.open("sub:a", "s3")
    assert await shoppers.open("sub:b", "s3")  # another shopper is not disturbed
    assert await shoppers.open("sub:a", "s1")  # a second socket of s1 (resume while the old one is half-open)
    await shoppers.close("sub:a", "s1")
    assert not await shoppers.open("sub:a", "s3")  # s1 still has a socket
    await shoppers.close("sub:a", "s1")
    assert await shoppers.open("sub:a", "s3")


async def test_ended_sessions_are_remembered_until_their_tokens_expire() -> None:
    shoppers = LocalShoppers(max_sessions=2, turns_per_minute=60)
    await shoppers.end("s1", until=100.0)
    assert await shoppers.ended("s1", 99.0) and not await shoppers.ended("s2", 99.0)
    assert not await shoppers.ended("s1", 100.0)


async def test_a_cap_of_zero_counts_sockets_but_refuses_none() -> None:
    shoppers = LocalShoppers(max_sessions=0, turns_per_minute=60)
    assert all([await shoppers.open("ip:127.0.0.1", f"s{i}") for i in range(50)])
    assert shoppers.holds("ip:127.0.0.1", "s7")


def test_a_session_takes_its_own_slot_else_the_free_ones_in_order() -> None:
    assert slots_to_try(["x", None, "y", None], "s") == [1, 3]
    assert slots_to_try(["x", None, "s", None], "s") == [2]  # a second socket of the session: its slot
    assert slots_to_try(["x", "y"], "s") == []  # full
    assert slots_to_try([], "s") == []


@given(st.lists(st.sampled_from(["a", "b", "s", None]), max_size=6))
def test_slots_tried_are_free_or_the_sessions_own(holders: list[str | None]) -> None:
    tried = slots_to_try(holders, "s")
    assert all(holders[i] is None for i in tried) or tried == [holders.index("s")]
    assert tried or (None not in holders and "s" not in holders)


def test_keys_are_digests_that_gateways_sharing_a_secret_agree_on() -> None:
    key = digest_key(GatewaySettings(resume_secret="r" * 40))
    name = digest(key, "shopper", "sub:alice@example.com")
    assert len(name) == 32 and "alice" not in name and all(c in "0123456789abcdef" for c in name)
    assert name == digest(digest_key(GatewaySettings(resume_secret="r" * 40, auth_secret="a" * 40)), "shopper",
                          "sub:alice@example.com")  # fmt: skip
    assert name != digest(digest_key(GatewaySettings(resume_secret="q" * 40)), "shopper", "sub:alice@example.com")
    assert digest(key, "session", "x") != digest(key, "shopper", "x")
    assert digest_key(GatewaySettings()) == digest_key(GatewaySettings())  # development: fixed, still agreeing


def budget(per_session: float, shopper: TokenBucket, now: float = 0.0) -> TurnBudget:
    return TurnBudget(per_session, shopper, max_text_chars=10, now=now)


def test_turns_a_minute_per_session_refill_over_the_minute() -> None:
    turns = budget(3, TokenBucket.full(1, 1000, 0))
    assert [turns.refuse("hi", 0) for _ in range(3)] == [None, None, None]
    refused = turns.refuse("hi", 0)
    assert refused is not None and refused.code == "rate_limited" and not refused.fatal
    assert turns.refuse(None, 19) is not None and turns.refuse(None, 21) is None  # one more every 20 s


def test_the_shopper_budget_is_shared_by_its_sessions_and_a_refusal_costs_nothing() -> None:
    shoppers = LocalShoppers(max_sessions=5, turns_per_minute=2)
    first, second = (budget(10, shoppers.turn_bucket("sub:a", 0)) for _ in range(2))
    assert first.refuse("hi", 0) is None and second.refuse("hi", 0) is None
    refused = first.refuse("hi", 0)
    assert refused is not None and "shopper" in refused.message
    assert first.session.tokens == 9  # the session's own budget was given back
    other = budget(10, shoppers.turn_bucket("sub:b", 0))
    assert other.refuse("hi", 0) is None


def test_reconnecting_does_not_refill_a_shoppers_budget() -> None:
    shoppers = LocalShoppers(max_sessions=5, turns_per_minute=2)
    bucket = shoppers.turn_bucket("sub:a", 0)
    bucket.take(2, 0)
    assert shoppers.turn_bucket("sub:a", 1) is bucket
    assert shoppers.turn_bucket("sub:z", 120) is not None
    assert shoppers.turn_bucket("sub:a", 120) is not bucket  # refilled and idle: forgotten, a fresh full one


def test_text_input_longer_than_the_limit_is_message_too_large() -> None:
    turns = budget(10, TokenBucket.full(1, 10, 0))
    refused = turns.refuse("x" * 11, 0)
    assert refused is not None and refused.code == "message_too_large" and not refused.fatal
    assert turns.session.tokens == 10 and turns.refuse("x" * 10, 0) is None


class ShopperBook(RuleBasedStateMachine):
    """Sockets of sessions opening and closing in any order: a shopper never holds more than its cap of sessions,
    a refused open counts nothing, and closing every socket frees every slot."""

    def __init__(self) -> None:
        super().__init__()
        self.shoppers = LocalShoppers(max_sessions=2, turns_per_minute=60)
        self.sockets: dict[tuple[str, str], int] = {}

    @rule(shopper=st.sampled_from(["a", "b"]), session=st.sampled_from(["s1", "s2", "s3"]))
    def open(self, shopper: str, session: str) -> None:
        sessions = {s for (who, s), n in self.sockets.items() if who == shopper and n}
        allowed = asyncio.run(self.shoppers.open(shopper, session))
        assert allowed == (session in sessions or len(sessions) < 2)
        if allowed:
            self.sockets[shopper, session] = self.sockets.get((shopper, session), 0) + 1

    @rule(data=st.data())
    def close(self, data: st.DataObject) -> None:
        open_ = sorted(key for key, n in self.sockets.items() if n)
        if open_:
            shopper, session = data.draw(st.sampled_from(open_))
            asyncio.run(self.shoppers.close(shopper, session))
            self.sockets[shopper, session] -= 1

    @invariant()
    def never_past_the_cap(self) -> None:
        for shopper in ("a", "b"):
            assert sum(1 for (who, _), n in self.sockets.items() if who == shopper and n) <= 2

    def teardown(self) -> None:
        for (shopper, session), n in self.sockets.items():
            for _ in range(n):
                asyncio.run(self.shoppers.close(shopper, session))
        assert all(asyncio.run(self.shoppers.open(s, f"fresh-{i}")) for s in ("a", "b") for i in range(2))


TestShopperBook = ShopperBook.TestCase
TestShopperBook.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)


def test_only_an_allowed_turn_is_reported_for_the_shoppers_budget_across_gateways() -> None:
    reported: list[int] = []
    turns = TurnBudget(2, TokenBucket.full(1, 1, 0), 10, 0, lambda: reported.append(1))
    assert turns.refuse("hi", 0) is None and reported == [1]
    assert turns.refuse("hi", 0) is not None  # the shopper's bucket is empty: refused, not reported
    assert turns.refuse("x" * 11, 5) is not None and reported == [1]  # too long: not reported either
