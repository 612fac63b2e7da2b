"""CPU and memory of the processes under test (psutil), and counters scraped from a service's /metrics."""

import re
import urllib.request

import psutil


class ProcWatch:
    """CPU seconds of named process groups between two snapshots, as % of one core; RSS at the last snapshot."""

    def __init__(self, groups: dict[str, list[int]]) -> None:
        self.groups = {name: [psutil.Process(pid) for pid in pids] for name, pids in groups.items()}
        self._cpu: dict[str, float] = {}
        self._at = 0.0

    def _cpu_seconds(self) -> dict[str, float]:
        return {name: sum(_cpu(p) for p in procs) for name, procs in self.groups.items()}

    def start(self, at: float) -> None:
        self._cpu, self._at = self._cpu_seconds(), at

    def stop(self, at: float) -> dict[str, dict[str, float]]:
        wall = at - self._at
        now = self._cpu_seconds()
        return {
            name: {
                "cpu_percent": round(100 * (now[name] - self._cpu[name]) / wall, 1),
                "rss_mib": round(sum(_rss(p) for p in procs) / 2**20, 1),
                "wall_s": round(wall, 2),
            }
            for name, procs in self.groups.items()
        }


def _cpu(proc: psutil.Process) -> float:
    try:
        times = proc.cpu_times()
    except psutil.NoSuchProcess:
        return 0.0
    return float(times.user + times.system)


def _rss(proc: psutil.Process) -> int:
    try:
        return int(proc.memory_info().rss)
    except psutil.NoSuchProcess:
        return 0


def _metrics_text(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return str(response.read().decode())


def scrape(url: str, names: tuple[str, ...]) -> dict[str, float]:
    """Unlabelled sample values of `names` from a Prometheus text endpoint (0 when absent)."""
    text = _metrics_text(url)
    values = {}
    for name in names:
        found = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", text, re.MULTILINE)
        values[name] = float(found.group(1)) if found else 0.0
    return values


def scrape_total(url: str, name: str) -> float:
    """The sum of every labelled sample of `name` (e.g. a counter's children) from a Prometheus text endpoint."""
    found = re.findall(rf"^{re.escape(name)}{{[^}}]*}} ([0-9.e+-]+)$", _metrics_text(url), re.MULTILINE)
    return sum(float(value) for value in found)
