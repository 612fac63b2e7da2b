"""The whole stack as real processes on loopback: nats-server, gateway and workers, for end-to-end tests.

Every client of a test shares one address (loopback), which is one shopper when auth is off: the per-shopper
session cap is lifted (0) and the turn budget raised here (LOOPBACK_SHOPPERS) unless the caller's env sets them.
Every gateway of a stack shares a fresh VOICECHAT_RESUME_SECRET, so sessions resume on any of them. Each stack
has its own run directory (the local agent's session store), removed after.
"""

import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from harness.nats_server import NatsServer
from harness.ports import free_port
from harness.procs import Service

FULL_STACK = ("tools_worker", "local_agent", "vad_worker", "dialog_worker", "gateway")
LOOPBACK_SHOPPERS = {"VOICECHAT_MAX_SESSIONS_PER_SHOPPER": "0", "VOICECHAT_TURNS_PER_MINUTE_SHOPPER": "100000"}


class Stack:
    def __init__(self, nats: NatsServer, env: Mapping[str, str]) -> None:
        self.nats = nats
        self.env = dict(env)
        self.services: list[Service] = []

    def add(self, module: str, env: Mapping[str, str] | None = None) -> Service:
        service = Service(module, self.nats.url, {**self.env, **(env or {})})
        self.services.append(service)  # before it starts: one that never gets ready is still stopped
        return service.start()

    @property
    def gateway(self) -> Service:
        return next(s for s in self.services if s.module == "gateway")

    def stop(self) -> None:
        """Stop every service (SIGTERM, then SIGKILL past the timeout), never leaving one behind."""
        slow = []
        for service in reversed(self.services):
            if service.proc is not None and service.proc.poll() is None:
                try:
                    service.stop()
                except subprocess.TimeoutExpired:
                    slow.append(service.module)
        if slow:
            raise RuntimeError(f"services did not stop within their timeout and were killed: {slow}")


@contextmanager
def running_stack(
    modules: tuple[str, ...],
    env: Mapping[str, str] | None = None,
    nats_user: tuple[str, str] | None = None,
    nats: NatsServer | None = None,
) -> Iterator[Stack]:
    """`nats_user`: (user, password) the NATS server requires; services then connect with both in their URL.
    `nats`: a server to run on instead of a fresh one (not started yet; the stack starts and closes it)."""
    nats = (nats or NatsServer(user=nats_user)).start()
    run_dir = tempfile.mkdtemp(prefix="voicechat-run-")
    shared = {
        "VOICECHAT_LOCAL_CX_PORT": str(free_port()),
        "VOICECHAT_RESUME_SECRET": secrets.token_urlsafe(32),
        "VOICECHAT_RUN_DIR": run_dir,
    }
    stack = Stack(nats, {**shared, **LOOPBACK_SHOPPERS, **(env or {})})
    try:
        for module in modules:
            stack.add(module)
        yield stack
    finally:
        stack.stop()
        nats.close()
        shutil.rmtree(run_dir, ignore_errors=True)
