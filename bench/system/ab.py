"""A/B of one knob on our stack (`python -m bench.system.ab`): the same load step once per variant, in alternating
rounds (so a change in the machine's other load hits every variant alike), CPU per session of every process.

A variant is `NAME=VALUE`: a `VOICECHAT_*` setting for every service, or else a query parameter of the client's
WebSocket URL. Examples (docs/benchmarks.md gives what they measured):

    python -m bench.system.ab VOICECHAT_EVENT_LOOP=asyncio VOICECHAT_EVENT_LOOP=uvloop
    python -m bench.system.ab audio_out=json audio_out=binary
"""

import argparse
import os
import time
from typing import Any

from bench.system import capacity
from bench.system.ours import running_target
from bench.system.procs import ProcWatch, scrape_total
from bench.system.script import build
from bench.system.step import StepConfig, run_step
from shared.settings import ENV_PREFIX

WS_MESSAGES = "voicechat_ws_messages_total"  # WebSocket messages in and out of the gateway


def measure(variant: str, sessions: int, seconds: float) -> dict[str, Any]:
    name, _, value = variant.partition("=")
    env = {name: value} if name.startswith(ENV_PREFIX) else {}
    query = "" if env else f"&{name}={value}"
    script = build()
    with running_target(env) as target:
        metrics = target.stack.gateway.base_url + "/metrics"
        gateway = ProcWatch({"gateway": [target.pids()["gateway"]]})
        messages = scrape_total(metrics, WS_MESSAGES)
        gateway.start(time.monotonic())
        step = run_step(StepConfig(target.url + query, sessions, seconds), script, target.watch, target.agent_time)
        whole = gateway.stop(time.monotonic())["gateway"]  # CPU % over the whole step, connects included
        messages = scrape_total(metrics, WS_MESSAGES) - messages
    summary = capacity.summarize(step)
    # Robust to a loaded machine (a late window, a lagging load generator): gateway CPU per message it handled.
    summary["gateway_us_per_ws_message"] = round(1e4 * whole["cpu_percent"] * whole["wall_s"] / max(1.0, messages), 1)
    return summary


def line(variant: str, summary: dict[str, Any]) -> str:
    sessions = summary["sessions"]
    cells = ", ".join(
        f"{name} {summary['processes'][name]['cpu_percent'] / sessions:.3f}" for name in capacity.SERVICES
    )
    lat = summary["latency_ms"]
    return (
        f"{variant} | {sessions} sessions | % of a core per session: {cells}; all {summary['cpu_percent_per_session']} "
        f"| frame->speech_started p99 {lat['frame_to_speech_started']['p99_ms']} ms, barge_in p99 "
        f"{lat['barge_in']['p99_ms']} ms | gateway {summary['gateway_us_per_ws_message']} us of CPU per WebSocket "
        f"message | other processes {summary['cpu_percent_other_processes']}% "
        f"| load avg {os.getloadavg()[0]:.1f} | {'; '.join(summary['failures']) or 'pass'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("variants", nargs="+", metavar="NAME=VALUE")
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10.0, help="measured window per run")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if any("=" not in variant for variant in args.variants):
        parser.error("a variant is NAME=VALUE")
    for _ in range(args.rounds):
        for variant in args.variants:
            print(line(variant, measure(variant, args.sessions, args.seconds)), flush=True)


if __name__ == "__main__":
    main()
