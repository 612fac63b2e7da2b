"""The faults `make chaos` injects, each on a running stack of two of each worker and two gateways."""

import signal
import time
from collections.abc import Callable
from dataclasses import dataclass

from harness.procs import Service, owned_sessions, wait_http
from harness.stack import Stack


@dataclass
class Fault:
    name: str
    inject: Callable[[Stack, list[str]], None]
    crash: bool  # a kill -9: turns in flight at that moment may fail; a graceful fault may fail none


def alive(stack: Stack, module: str) -> list[Service]:
    return [s for s in stack.services if s.module == module and s.proc is not None and s.proc.poll() is None]


def kill_and_restart(module: str) -> Callable[[Stack, list[str]], None]:
    def inject(stack: Stack, gateways: list[str]) -> None:
        running = alive(stack, module)
        victim = max(running, key=owned_sessions) if module in ("vad_worker", "dialog_worker") else running[0]
        victim.kill()
        time.sleep(1.0)
        victim.start()
        if module == "gateway":
            wait_http(victim.base_url + "/readyz")

    return inject


def restart_nats(stack: Stack, gateways: list[str]) -> None:
    stack.nats.restart()


def rolling_sigterm(stack: Stack, gateways: list[str]) -> None:
    """Every service in turn: start its replacement, then SIGTERM the old one and wait for it to exit."""
    for old in list(stack.services):
        replacement = stack.add(old.module)
        if old.module == "gateway":
            wait_http(replacement.base_url + "/readyz")
            gateways[gateways.index(old.base_url)] = replacement.base_url
        old.signal(signal.SIGTERM)
        assert old.proc is not None
        old.proc.wait(timeout=60)
        stack.services.remove(old)
        time.sleep(1.0)


FAULTS = (
    Fault("kill -9 vad_worker", kill_and_restart("vad_worker"), crash=True),
    Fault("kill -9 dialog_worker", kill_and_restart("dialog_worker"), crash=True),
    Fault("kill -9 tools_worker", kill_and_restart("tools_worker"), crash=True),
    Fault("kill -9 local agent", kill_and_restart("local_agent"), crash=True),
    Fault("restart nats-server", restart_nats, crash=True),
    Fault("kill -9 gateway", kill_and_restart("gateway"), crash=True),
    Fault("rolling SIGTERM, every service", rolling_sigterm, crash=False),
)
