"""`python -m bench.eval [--engines whisper,pocketsphinx] [--conditions ...] [--limit N] [--concurrency N]`.

Synthesises the requests once, starts one whole stack per recognition engine (harness.stack) and streams every
clip through each gateway, `--concurrency` sessions at a time per stack; prints the report and saves it under
`--out` (default .bench/eval). See bench/eval/__init__.py.
"""

import argparse
import asyncio
import contextlib
import sys
import time
from pathlib import Path

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


async def _run(urls: dict[str, str], jobs: dict[str, list[Job]], concurrency: int) -> list[Outcome]:
    runs = [run_jobs(urls[engine], jobs[engine], asyncio.Semaphore(concurrency)) for engine in urls]
    return [outcome for outcomes in await asyncio.gather(*runs) for outcome in outcomes]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.eval")
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--conditions", default=",".join(c.name for c in CONDITIONS))
    parser.add_argument("--limit", type=int, default=len(REQUESTS), help="only the first N requests")
    parser.add_argument("--concurrency", type=int, default=4, help="sessions at a time per stack")
    parser.add_argument("--out", type=Path, default=Path(".bench/eval"))
    args = parser.parse_args()
    if flite_binary() is None:
        sys.exit("flite is not installed: `apt-get install flite` (.ci/run does it)")
    engines = [e for e in args.engines.split(",") if e]
    conditions = [c for c in args.conditions.split(",") if c]
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
        outcomes = asyncio.run(_run(urls, jobs, args.concurrency))
    summary = report.build(outcomes, conditions, engines)
    title = f"make eval: {len(outcomes)} turns in {time.monotonic() - started:.0f} s"
    text = report.markdown(summary, title)
    print(text)
    report.save(args.out, summary, outcomes, text)
    print(f"saved {args.out / 'report.md'} and {args.out / 'report.json'}")


if __name__ == "__main__":
    main()
