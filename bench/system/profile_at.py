"""`python -m bench.system.profile_at N`: one load step of N sessions on our stack with py-spy on each Python
service over its window; prints each service's CPU and top self-time frames (collapsed stacks saved in .bench/
as profile-<service>.txt). What limits the stack at a count the capacity search reaches (quick mode has no profile).
"""

import argparse
import json

from bench.system import profiled_step
from bench.system.ours import running_target
from bench.system.script import build


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("sessions", type=int, help="concurrent sessions")
    sessions = parser.parse_args().sessions
    with running_target() as target:
        step, hot_spots = profiled_step(target, build(), sessions)
    cpu = {name: figures["cpu_percent"] for name, figures in step.processes.items()}
    print(f"{sessions} sessions, CPU % of a core per process: {json.dumps(cpu)}; outcomes: {dict(step.counts)}")
    print(json.dumps(hot_spots, indent=1))


if __name__ == "__main__":
    main()
