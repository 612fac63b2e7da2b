"""py-spy profiles of the Python services under load: collapsed stacks saved, top self-time frames summarised."""

import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

PY_SPY = Path(sys.executable).parent / "py-spy"
PROFILED = ("gateway", "vad_worker", "dialog_worker", "local_agent")
RATE_HZ = 100


def record(pids: dict[str, int], seconds: int, out_dir: Path) -> None:
    """Start one `py-spy record` per service, now (e.g. when a load window opens); they end on their own. An older
    profile of a service is removed first, so a py-spy that fails leaves nothing to be mistaken for this one."""
    out_dir.mkdir(exist_ok=True)
    for name, pid in pids.items():
        (out_dir / f"profile-{name}.txt").unlink(missing_ok=True)
        command = [str(PY_SPY), "record", "-f", "raw", "-r", str(RATE_HZ), "-d", str(seconds), "--nonblocking"]
        command += ["-o", str(out_dir / f"profile-{name}.txt"), "--pid", str(pid)]
        subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def hot_spots(path: Path, top: int = 8) -> dict[str, Any]:
    """Samples, and the frames with the most self time (the leaf of each sampled stack), as % of samples."""
    leaves: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        total += int(count)
        leaves[stack.rsplit(";", 1)[-1]] += int(count)
    return {
        "samples": total,
        "top_self": [{"frame": frame, "percent": round(100 * n / total, 1)} for frame, n in leaves.most_common(top)],
    }


def summarise(out_dir: Path, names: tuple[str, ...] = PROFILED) -> dict[str, Any]:
    paths = {name: out_dir / f"profile-{name}.txt" for name in names}
    return {name: hot_spots(path) for name, path in paths.items() if path.exists()}
