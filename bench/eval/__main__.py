"""`python -m bench.eval [--engines whisper,pocketsphinx] [--conditions ...] [--limit N] [--concurrency N]`.

Synthesises the requests once, starts one whole stack per recognition engine (harness.stack) and streams every
clip through each gateway, `--concurrency` sessions at a time per stack; prints the report and saves it under
`--out` (default .bench/eval; every turn is appended to turns.jsonl as it ends, `--from-turns` reports from such a
file). See bench/eval/__init__.py.
"""

import argparse
import asyncio
import contextlib
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import TextIO

from bench.eval import report
from bench.eval.conditions import CONDITIONS, make_clip
from bench.eval.dataset import REQUESTS
from bench.eval.runner import Job, run_jobs
from bench.eval.scoring import Outcome
from bench.eval.voices import VOICES, flite_binary, speak
from harness.procs import wait_http
from harness.stack import FULL_STACK, running_stack

ENGINES = ("whisper", "pocketsphinx")


def jobs_for(engine: str, conditions: list[str], limit: int) -> list[Job]:
    wanted = [c for c in CONDITIONS if c.name in conditions]
    jobs = []
    for index, request in enumerate(REQUESTS[:limit]):
        voice = VOICES[index % len(VOICES)]
        speech = speak(voice, request.text)
        for condition in wanted:
            clip = make_clip(speech, condition, seed=index)
            jobs.append(Job(engine, condition.name, voice.label, request, clip))
    return jobs


async def _run(urls: dict[str, str], jobs: dict[str, list[Job]], concurrency: int, log: TextIO) -> list[Outcome]:
    """Run every engine's jobs side by side; each turn is appended to `log` (JSON lines) as it ends."""
    total = sum(map(len, jobs.values()))
    finished = 0

    def done(outcome: Outcome) -> None:
        nonlocal finished
        finished += 1
        log.write(json.dumps(asdict(outcome)) + "\n")
        log.flush()
        if finished % 25 == 0 or finished == total:
            print(f"eval: {finished}/{total} turns", flush=True)

    runs = [run_jobs(urls[e], jobs[e], asyncio.Semaphore(concurrency), done) for e in urls]
    return [outcome for outcomes in await asyncio.gather(*runs) for outcome in outcomes]


def _report(outcomes: list[Outcome], conditions: list[str], engines: list[str], out: Path, title: str) -> None:
    summary = report.build(outcomes, conditions, engines)
    text = report.markdown(summary, title)
    print(text)
    report.save(out, summary, outcomes, text)
    print(f"saved {out / 'report.md'} and {out / 'report.json'}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.eval")
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--conditions", default=",".join(c.name for c in CONDITIONS))
    parser.add_argument("--limit", type=int, default=len(REQUESTS), help="only the first N requests")
    parser.add_argument("--concurrency", type=int, default=4, help="sessions at a time per stack")
    parser.add_argument("--out", type=Path, default=Path(".bench/eval"))
    parser.add_argument("--from-turns", type=Path, help="only report the turns of an earlier run's turns.jsonl")
    args = parser.parse_args()
    engines = [e for e in args.engines.split(",") if e]
    conditions = [c for c in args.conditions.split(",") if c]
    if args.from_turns:
        lines = args.from_turns.read_text().splitlines()
        outcomes = [Outcome(**json.loads(line)) for line in lines if line]
        _report(outcomes, conditions, engines, args.out, f"make eval: {len(outcomes)} turns (from {args.from_turns})")
        return
    if flite_binary() is None:
        sys.exit("flite is not installed: `apt-get install flite` (.ci/run does it)")
    started = time.monotonic()
    jobs = {engine: jobs_for(engine, conditions, args.limit) for engine in engines}
    print(f"eval: {sum(map(len, jobs.values()))} turns, {len(VOICES)} voices, conditions {conditions}", flush=True)
    env = {"VOICECHAT_LOCAL_CX_ASR_WAIT_S": "30", "VOICECHAT_LOG_LEVEL": "WARNING"}
    with contextlib.ExitStack() as stacks:
        urls = {}
        for engine in engines:
            stack = stacks.enter_context(running_stack(FULL_STACK, {**env, "VOICECHAT_LOCAL_CX_ASR": engine}))
            wait_http(stack.gateway.base_url + "/readyz")
            urls[engine] = stack.gateway.base_url
        args.out.mkdir(parents=True, exist_ok=True)
        with (args.out / "turns.jsonl").open("w") as log:
            outcomes = asyncio.run(_run(urls, jobs, args.concurrency, log))
    title = f"make eval: {len(outcomes)} turns in {time.monotonic() - started:.0f} s"
    _report(outcomes, conditions, engines, args.out, title)


if __name__ == "__main__":
    main()
