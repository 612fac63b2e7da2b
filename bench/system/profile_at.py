"""`python -m bench.system.profile_at N`: one load step of N sessions on our stack with py-spy on each Python
service over its window; prints each service's CPU and top self-time frames (collapsed stacks saved in .bench/
as profile-<service>.txt). What limits the stack at a count the capacity search reaches (quick mode has no profile).
"""

import argparse
import json
import time
from pathlib import Path

from bench.system import profile
from bench.system.ours import running_target
from bench.system.script import build
from bench.system.step import StepConfig, run_step

WINDOW_S = 12  # the measured window; py-spy samples the first PROFILE_S of it
PROFILE_S = 10
OUT = Path(".bench")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("sessions", type=int, help="concurrent sessions")
    sessions = parser.parse_args().sessions
    script = build()
    OUT.mkdir(exist_ok=True)
    with running_target() as target:
        pids = {name: pid for name, pid in target.pids().items() if name in profile.PROFILED}
        config = StepConfig(target.url, sessions, WINDOW_S)
        step = run_step(config, script, target.watch, target.probe, lambda: profile.record(pids, PROFILE_S, OUT))
        time.sleep(1)  # py-spy writes its file when it ends
    cpu = {name: figures["cpu_percent"] for name, figures in step.processes.items()}
    print(f"{sessions} sessions, CPU % of a core per process: {json.dumps(cpu)}; outcomes: {dict(step.counts)}")
    print(json.dumps(profile.summarise(OUT), indent=1))


if __name__ == "__main__":
    main()
