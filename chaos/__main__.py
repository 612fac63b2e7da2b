"""`make chaos`: run the stack (two of each worker, two gateways, one local agent, one NATS) on loopback, drive
shoppers' sessions, inject every fault in turn, and print what each did. Exits 1 when a session was lost, or a
fault that checks a session of its own (chaos/speaker.py) found it wrong.

`python -m chaos --only TEXT` injects only the faults whose name contains TEXT (repeatable), e.g.
`--only "rolling SIGTERM"`.
"""

import argparse
import asyncio
import sys
import threading
import time
from collections.abc import Callable

import aiohttp

from chaos.faults import FAULTS, Fault, Target
from chaos.shopper import Shopper, late_events, stale_events
from harness.procs import wait_http
from harness.stack import running_stack
from voice_client.recorder import VoiceClient

STACK = (
    "tools_worker", "tools_worker", "local_agent", "vad_worker", "vad_worker",
    "dialog_worker", "dialog_worker", "gateway", "gateway",
)  # fmt: skip
SHOPPERS = 12
SETTLE_S = 8.0
# The scripted agent answers every turn in about two seconds, so each fault sees several turns of every shopper.
# Shoppers type a request every couple of seconds, faster than a person talks: the per-session turn budget is raised.
# The scripted agent hears no words, so speech over an answer is confirmed only at its end: the resume timeout is
# raised past the length of a shopper's barge-in (chaos/shopper.py).
ENV = {
    "VOICECHAT_DRAIN_GRACE_S": "15",
    "VOICECHAT_LOCAL_CX_SCRIPTED": "1",
    "VOICECHAT_TURNS_PER_MINUTE_SESSION": "600",
    "VOICECHAT_BARGE_IN_RESUME_TIMEOUT_MS": "4000",
}


AFTER_S = 20.0  # a session is alive after a fault when it completes a turn within this time


def ok_between(shopper: Shopper, start: float, end: float) -> bool:
    return any(turn.ok and start <= turn.started <= end for turn in shopper.turns)


def failed_between(shoppers: list[Shopper], start: float, end: float) -> list[str]:
    return [t.detail for s in shoppers for t in s.turns if not t.ok and start <= t.ended <= end]


async def drive(shoppers: list[Shopper], stop: asyncio.Event) -> None:
    async with aiohttp.ClientSession() as http:
        outcomes = await asyncio.gather(*(shopper.run(http, stop) for shopper in shoppers), return_exceptions=True)
    for shopper, outcome in zip(shoppers, outcomes, strict=True):
        if isinstance(outcome, BaseException):  # a bug of the shopper, not of the system: say so
            shopper.lost = f"shopper crashed: {type(outcome).__name__}: {outcome}"


def in_flight(shoppers: list[Shopper], moment: float) -> int:
    return sum(1 for s in shoppers for t in s.turns if t.started <= moment <= t.ended)


def under_way(shoppers: list[Shopper], start: float, end: float) -> int:
    """Turns under way at some time during a fault (a request typed during a 20 s outage included)."""
    return sum(1 for s in shoppers for t in s.turns if t.started <= end and t.ended >= start)


def events_between(
    shoppers: list[Shopper], judge: Callable[[VoiceClient], list[float]], start: float, end: float
) -> int:
    return sum(1 for s in shoppers for c in s.clients for at in judge(c) if start <= at <= end)


def run_faults(target: Target, faults: list[Fault]) -> list[tuple[str, bool, float, float, float]]:
    """Inject each fault, SETTLE_S apart; returns (name, crash, injected at, injection over at, settled at)."""
    moments = []
    for fault in faults:
        moment = time.monotonic()
        fault.inject(target)
        recovered = time.monotonic()  # a pause lasts until here
        time.sleep(SETTLE_S)
        moments.append((fault.name, fault.crash, moment, recovered, time.monotonic()))
        print(f"  injected: {fault.name}", flush=True)
    return moments


def report(moments: list[tuple[str, bool, float, float, float]], shoppers: list[Shopper], problems: list[str]) -> int:
    print(
        f"\n{'fault':32} {'alive before':>12} {'alive after':>11} {'in flight':>9} {'during':>6} {'failed':>6} "
        f"{'late':>4} {'stale':>5}  expected / failures"
    )
    for name, crash, moment, recovered, settled in moments:
        before = sum(1 for s in shoppers if ok_between(s, moment - SETTLE_S, moment))
        after = sum(1 for s in shoppers if ok_between(s, recovered, recovered + AFTER_S))
        failed = failed_between(shoppers, moment - 1.0, settled)
        late = events_between(shoppers, late_events, moment - 1.0, settled)
        stale = events_between(shoppers, stale_events, moment - 1.0, settled)
        expected = "failed <= in flight" if crash else "0 failed"
        print(
            f"{name:32} {before:>12} {after:>11} {in_flight(shoppers, moment):>9} "
            f"{under_way(shoppers, moment, recovered):>6} {len(failed):>6} {late:>4} {stale:>5}  {expected} "
            f"{sorted(set(failed))}"
        )
    turns = sum(len(s.turns) for s in shoppers)
    resumes, dropped = sum(s.resumes for s in shoppers), sum(s.dropped for s in shoppers)
    duels, barge_ins = sum(s.duels for s in shoppers), sum(s.barge_ins for s in shoppers)
    print(
        f"\nshoppers: {len(shoppers)}, turns: {turns}, resumes: {resumes}, turns cut by a dropped socket: {dropped}, "
        f"double resumes: {duels}, barge-ins: {barge_ins}"
    )
    print(f"late events after a turn's end: {events_between(shoppers, late_events, 0.0, time.monotonic())}")
    print(f"events of an older turn: {events_between(shoppers, stale_events, 0.0, time.monotonic())}")
    lost = [s for s in shoppers if s.lost is not None]
    for shopper in lost:
        print(f"  shopper {shopper.index}: {shopper.lost}")
    print(f"sessions lost: {len(lost)}")
    for problem in problems:
        print(f"  {problem}")
    print(f"faults' own checks failed: {len(problems)}")
    return 1 if lost or problems else 0


def chosen_faults(argv: list[str]) -> list[Fault]:
    parser = argparse.ArgumentParser(prog="python -m chaos", description="Inject faults into a running stack.")
    parser.add_argument("--only", action="append", default=[], help="inject only faults whose name contains this")
    only: list[str] = parser.parse_args(argv).only
    faults = [fault for fault in FAULTS if not only or any(text in fault.name for text in only)]
    if not faults:
        parser.error(f"no fault matches {only}; faults: {[fault.name for fault in FAULTS]}")
    return faults


def main() -> None:
    faults = chosen_faults(sys.argv[1:])
    started = time.monotonic()
    with running_stack(STACK, ENV) as stack:
        gateways = [s.base_url for s in stack.services if s.module == "gateway"]
        for url in gateways:
            wait_http(url + "/readyz")
        shoppers = [Shopper(i, gateways) for i in range(SHOPPERS)]
        stop = asyncio.Event()
        loop = asyncio.new_event_loop()
        driver = threading.Thread(target=loop.run_until_complete, args=(drive(shoppers, stop),))
        driver.start()
        time.sleep(SETTLE_S)
        print(f"stack up, {SHOPPERS} shoppers talking; injecting {len(faults)} faults", flush=True)
        target = Target(stack, gateways, shoppers)
        moments = run_faults(target, faults)
        final = time.monotonic()
        time.sleep(AFTER_S)
        loop.call_soon_threadsafe(stop.set)
        driver.join(timeout=60)
        for shopper in shoppers:
            if shopper.lost is None and not ok_between(shopper, final, final + AFTER_S):
                shopper.lost = "no completed turn after the last fault"
    print(f"chaos run took {time.monotonic() - started:.0f} s")
    sys.exit(report(moments, shoppers, target.problems))


if __name__ == "__main__":
    main()
