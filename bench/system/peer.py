"""The Pipecat peer: its own virtual environment (.bench/peer-venv), its server process, and one load step on it."""

import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.system.driver import Mode
from bench.system.procs import ProcWatch
from bench.system.script import Script
from bench.system.step import StepConfig, run_step
from harness.ports import free_port

PEER_DIR = Path(__file__).resolve().parents[1] / "peer"
VENV = Path(".bench/peer-venv")
PYTHON = VENV / "bin" / "python"
LOG = Path(".bench/peer-server.log")


class PeerUnavailable(RuntimeError):
    """Pipecat could not be installed or started here; the message says why."""


def ensure_venv() -> None:
    """Create the venv and install bench/peer/requirements.txt, unless pipecat already imports there."""
    if PYTHON.exists() and subprocess.run([PYTHON, "-c", "import pipecat"], capture_output=True).returncode == 0:
        return
    print("installing the Pipecat peer into .bench/peer-venv (once)...", flush=True)
    steps = [
        ["python3", "-m", "venv", str(VENV)],
        [str(PYTHON), "-m", "pip", "install", "-q", "-r", str(PEER_DIR / "requirements.txt")],
    ]
    for command in steps:
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode:
            raise PeerUnavailable(f"{' '.join(command)} failed: {done.stderr.strip()[-800:]}")


def _wait_port(port: int, server: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and server.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise PeerUnavailable(f"the Pipecat server did not start: {LOG.read_text(errors='replace')[-800:]}")


@dataclass
class PeerTarget:
    url: str
    watch: ProcWatch


@contextmanager
def running_peer() -> Iterator[PeerTarget]:
    """The Pipecat server on a free port, for as many steps as needed (it idles between them)."""
    ensure_venv()
    port = free_port()
    with LOG.open("wb") as log:
        server = subprocess.Popen(
            [str(PYTHON.absolute()), "pipecat_server.py", str(port)], cwd=PEER_DIR, stdout=log, stderr=log
        )
    try:
        _wait_port(port, server)
        yield PeerTarget(f"ws://127.0.0.1:{port}/ws", ProcWatch({"pipecat": [server.pid]}))
    finally:
        server.terminate()
        server.wait(timeout=10)


def measure(peer: PeerTarget, script: Script, sessions: int, measure_s: float) -> dict[str, Any]:
    """One step on the peer: every session speaks, waits for the answer and speaks over it (spoken barge-in)."""
    config = StepConfig(peer.url, sessions, measure_s, rotation=(Mode.SPOKEN,), peer=True)
    step = run_step(config, script, peer.watch)
    return {
        "sessions": sessions,
        "window_s": round(step.window_s, 1),
        "spoken_barge_in": step.histograms.summary("spoken_barge_in"),
        "loadgen_lag": step.histograms.summary("loadgen_lag"),
        "counts": dict(sorted(step.counts.items())),
        "processes": step.processes,
        "cpu_percent_per_session": round(step.processes["pipecat"]["cpu_percent"] / sessions, 3),
        "started": time.strftime("%H:%M:%S"),
    }
