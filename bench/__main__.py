"""`make bench`: run every benchmark, print its figures and save them all to `.bench/results.json`.

`make bench BENCH_ARGS="--full"` runs the longer variants; `BENCH_ARGS="vad tools_search"` runs a subset.
"""

import argparse
import importlib
import json
import platform
import time
from pathlib import Path
from typing import Any

import psutil

from bench import readme

BENCHMARKS = ("vad", "noise", "tools_search", "asr_rtf", "system", "phone")
OUTPUT = Path(".bench/results.json")


def machine() -> dict[str, Any]:
    return {
        "cpus": psutil.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", default=list(BENCHMARKS), help=f"any of {', '.join(BENCHMARKS)}")
    parser.add_argument("--full", action="store_true", help="longer runs")
    args = parser.parse_args()
    unknown = set(args.names) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmarks: {sorted(unknown)}")
    results: dict[str, Any] = {"machine": machine(), "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    for name in args.names:
        print(f"== {name}")
        module = importlib.import_module(f"bench.{name}")
        results[name] = module.run(quick=not args.full)
    OUTPUT.parent.mkdir(exist_ok=True)
    OUTPUT.write_text(json.dumps(results, indent=2))
    print(f"saved {OUTPUT}; README section from this run: {readme.write(results)}")


if __name__ == "__main__":
    main()
