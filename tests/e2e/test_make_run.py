"""`make run` as a user runs it: everything starts, a session works, Ctrl-C (SIGINT) leaves no process behind."""

import asyncio
import os
import signal
import subprocess
import tempfile
import time

import aiohttp
import psutil
import pytest

from harness.ports import free_port
from harness.procs import ROOT, descendants, kill_all, wait_http
from voice_client.recorder import connect

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_make_run_starts_serves_and_stops_cleanly(stop_signal: signal.Signals) -> None:
    http_port, nats_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICECHAT_") and k not in ("MAKEFLAGS", "MFLAGS")}
    env.update({"HTTP_PORT": str(http_port), "NATS_PORT": str(nats_port), "RUN_DIR": tempfile.mkdtemp()})
    proc = subprocess.Popen(
        ["make", "--no-print-directory", "run"],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{http_port}"
    try:
        wait_http(base + "/healthz", timeout=60)
        wait_http(base + "/readyz", timeout=30)
        asyncio.run(_one_session(base))
        family = descendants(psutil.Process(proc.pid))
        assert len(family) >= 6  # make, honcho, nats-server and the services
        # Ctrl-C reaches the whole foreground process group; SIGTERM goes to make's group as a supervisor would send.
        os.killpg(proc.pid, stop_signal)
        started = time.monotonic()
        proc.wait(timeout=15)
        _, alive = psutil.wait_procs(family, timeout=max(0.1, 10 - (time.monotonic() - started)))
        assert alive == [], f"left behind: {[p.cmdline() for p in alive]}"
        output = proc.stdout.read().decode() if proc.stdout else ""
        assert f"http://127.0.0.1:{http_port}/test" in output
        assert f"nats://127.0.0.1:{nats_port}" in output
        assert "voicechat: auth       off: development defaults" in output
    finally:
        kill_all(descendants(psutil.Process(proc.pid)) if proc.poll() is None else [])


async def _one_session(base: str) -> None:
    async with aiohttp.ClientSession() as http:
        client = await connect(http, base)
        await client.send({"type": "ping"})
        await client.wait_for("pong")
        await client.close()
