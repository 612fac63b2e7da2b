"""The faults `make chaos` injects, each on a running stack of two of each worker and two gateways, or on the
shoppers' sessions (chaos/shopper.py)."""

import asyncio
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from chaos.shopper import Shopper
from chaos.speaker import speak_through_outage
from harness.procs import Service, owned_sessions, wait_http
from harness.stack import Stack


@dataclass
class Target:
    stack: Stack
    gateways: list[str]
    shoppers: list[Shopper]
    problems: list[str] = field(default_factory=list)  # what a fault that checks its own session found wrong


@dataclass
class Fault:
    name: str
    inject: Callable[[Target], None]
    crash: bool  # a kill -9 or an outage: turns in flight at that moment may fail; a graceful fault may fail none


def alive(stack: Stack, module: str) -> list[Service]:
    return [s for s in stack.services if s.module == module and s.proc is not None and s.proc.poll() is None]


def kill_and_restart(module: str) -> Callable[[Target], None]:
    def inject(target: Target) -> None:
        running = alive(target.stack, module)
        victim = max(running, key=owned_sessions) if module in ("vad_worker", "dialog_worker") else running[0]
        victim.kill()
        time.sleep(1.0)
        victim.start()
        if module == "gateway":
            wait_http(victim.base_url + "/readyz")

    return inject


def restart_nats(target: Target) -> None:
    target.stack.nats.restart()


def pause_nats(seconds: float) -> Callable[[Target], None]:
    """SIGSTOP the NATS server (a stalled node: sockets stay open, nothing moves), then SIGCONT."""

    def inject(target: Target) -> None:
        proc = target.stack.nats.proc
        assert proc is not None
        proc.send_signal(signal.SIGSTOP)
        time.sleep(seconds)
        proc.send_signal(signal.SIGCONT)

    return inject


def pause(module: str, seconds: float) -> Callable[[Target], None]:
    """SIGSTOP a service (a stall, not a crash: CPU throttling, a long pause), then SIGCONT. For workers the
    busiest; for the gateway its event loop stalls with every socket it holds."""

    def inject(target: Target) -> None:
        running = alive(target.stack, module)
        victim = max(running, key=owned_sessions) if module in ("vad_worker", "dialog_worker") else running[0]
        victim.signal(signal.SIGSTOP)
        time.sleep(seconds)
        victim.signal(signal.SIGCONT)

    return inject


def cx_unavailable_mid_speech(target: Target) -> None:
    """The agent's speech streams fail UNAVAILABLE while a session speaks (chaos/speaker.py); typed turns go on."""
    agent = alive(target.stack, "local_agent")[0]
    problems = asyncio.run(speak_through_outage(target.gateways[0], agent))
    target.problems += [f"CX UNAVAILABLE mid-speech: {problem}" for problem in problems]


def duel(target: Target) -> None:
    """Half the shoppers resume their session on both gateways at once, their old socket left open."""
    for shopper in target.shoppers[::2]:
        shopper.duel_requested = True


def start_replacement(target: Target, old: Service) -> None:
    """A rolling update's first step: start `old`'s replacement (a gateway's takes over its shoppers' resumes)."""
    replacement = target.stack.add(old.module)
    if old.module == "gateway":
        wait_http(replacement.base_url + "/readyz")
        target.gateways[target.gateways.index(old.base_url)] = replacement.base_url


def retire(target: Target, old: Service) -> None:
    """A rolling update's second step: SIGTERM `old` and wait for it to exit."""
    old.signal(signal.SIGTERM)
    assert old.proc is not None
    old.proc.wait(timeout=60)
    target.stack.services.remove(old)


def rolling_sigterm(target: Target) -> None:
    """Every service in turn: start its replacement, then SIGTERM the old one and wait for it to exit."""
    for old in list(target.stack.services):
        start_replacement(target, old)
        retire(target, old)
        time.sleep(1.0)


def drain_during_barge_in(target: Target) -> None:
    """Every shopper talks over the answers it gets (real speech); the busiest dialog worker gets SIGTERM once
    several shoppers are talking over an answer (paused), so barge-ins land before, during and after its sessions
    move (issue 12, finding 3)."""
    for shopper in target.shoppers:
        shopper.barging = True
    old = max(alive(target.stack, "dialog_worker"), key=owned_sessions)
    start_replacement(target, old)
    deadline = time.monotonic() + 10.0
    while sum(s.talking_over_answer for s in target.shoppers) < len(target.shoppers) // 3:
        if time.monotonic() > deadline:
            break
        time.sleep(0.02)
    retire(target, old)
    time.sleep(2.0)
    for shopper in target.shoppers:
        shopper.barging = False


FAULTS = (
    Fault("kill -9 vad_worker", kill_and_restart("vad_worker"), crash=True),
    Fault("kill -9 dialog_worker", kill_and_restart("dialog_worker"), crash=True),
    Fault("kill -9 tools_worker", kill_and_restart("tools_worker"), crash=True),
    Fault("kill -9 local agent", kill_and_restart("local_agent"), crash=True),
    Fault("CX UNAVAILABLE mid-speech", cx_unavailable_mid_speech, crash=False),
    Fault("restart nats-server", restart_nats, crash=True),
    Fault("NATS paused 5 s", pause_nats(5.0), crash=True),
    Fault("NATS paused 20 s", pause_nats(20.0), crash=True),
    Fault("vad_worker paused 3 s", pause("vad_worker", 3.0), crash=True),
    Fault("dialog_worker paused 3 s", pause("dialog_worker", 3.0), crash=True),
    Fault("gateway stalled 2 s", pause("gateway", 2.0), crash=True),
    Fault("two gateways resume at once", duel, crash=False),
    Fault("dialog_worker drained, barge-ins", drain_during_barge_in, crash=False),
    Fault("kill -9 gateway", kill_and_restart("gateway"), crash=True),
    Fault("rolling SIGTERM, every service", rolling_sigterm, crash=False),
)
