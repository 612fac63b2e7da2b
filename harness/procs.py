"""Service processes for integration and end-to-end tests: `python -m <package>` with its environment."""

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

import psutil

from harness.ports import free_port

ROOT = Path(__file__).resolve().parents[1]


def service_env(nats_url: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("VOICECHAT_")}
    env.update({"VOICECHAT_NATS_URL": nats_url, "VOICECHAT_LOG_LEVEL": "INFO", "PYTHONUNBUFFERED": "1"})
    env.update(extra or {})
    return env


# A service's start on a loaded machine (two cores shared by several stacks) can take well over 20 s.
START_TIMEOUT_S = 60.0


def wait_http(url: str, timeout: float = 20.0, status: int = 200) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == status:
                    return
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
        except OSError as exc:
            last = str(exc)
        time.sleep(0.05)
    raise TimeoutError(f"{url} not ready: {last}")


class Service:
    """One service process; `ops_port` serves /healthz, /readyz and /metrics."""

    def __init__(self, module: str, nats_url: str, env: Mapping[str, str] | None = None) -> None:
        self.module = module
        self.ops_port = free_port()
        port_var = "VOICECHAT_HTTP_PORT" if module == "gateway" else "VOICECHAT_METRICS_PORT"
        self.env = service_env(nats_url, {port_var: str(self.ops_port), **(env or {})})
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"voicechat-{module}-{self.ops_port}.log"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.ops_port}"

    def start(self, ready_path: str = "/healthz") -> "Service":
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", self.module], cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            wait_http(self.base_url + ready_path, timeout=START_TIMEOUT_S)
        except TimeoutError:
            self.kill()  # never leave a process behind that the caller cannot stop (it gets no Service)
            raise
        return self

    def signal(self, sig: signal.Signals) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(timeout=10)

    def stop(self, timeout: float = 30.0) -> int | None:
        if self.proc is None:
            return None
        self.signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def metric(service: Service, series: str) -> float:
    """One series of a service's /metrics (`name{label="value"}` as exported), 0 when absent."""
    with urllib.request.urlopen(service.base_url + "/metrics", timeout=5) as response:
        text = response.read().decode()
    found = re.search(rf"^{re.escape(series)} (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


def owned_sessions(service: Service) -> int:
    """Sessions a worker owns right now, from its `voicechat_worker_sessions` gauge."""
    with urllib.request.urlopen(service.base_url + "/metrics", timeout=2) as response:
        text = response.read().decode()
    found = re.search(r'^voicechat_worker_sessions\{kind="(?:vad|dialog)"\} (\S+)$', text, re.M)
    return int(float(found.group(1))) if found else 0


def descendants(root: psutil.Process) -> list[psutil.Process]:
    """A process and all its children (empty once it is gone)."""
    try:
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def kill_all(processes: list[psutil.Process]) -> None:
    """After a failure: honcho starts each child in its own session, so killing make's group would orphan them."""
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
