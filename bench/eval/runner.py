"""One evaluated turn through the gateway, as a client does it: a new session at the clip's sample rate, the
clip streamed in real time in 20 ms frames (voice_client.recorder), the turn's events recorded with their
arrival times; streaming stops once the turn is answered, and a turn that gives no intent within
`ANSWER_WAIT_S` after the clip counts as no answer."""

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from bench.eval.conditions import Clip
from bench.eval.dataset import Request
from bench.eval.scoring import Outcome
from harness.speech import frames
from voice_client.recorder import VoiceClient, connect

ANSWER_WAIT_S = 15.0


@dataclass(frozen=True)
class Job:
    engine: str
    condition: str
    voice: str
    request: Request
    clip: Clip


def _answered(event: dict[str, Any]) -> bool:
    return event["type"] in ("intent", "error") and event.get("turn_id") is not None


async def run_job(http: aiohttp.ClientSession, base_url: str, job: Job) -> Outcome:
    client = await connect(http, base_url, f"?sample_rate={job.clip.rate}")
    started = time.monotonic()
    streaming = asyncio.create_task(client.stream(frames(job.clip.samples, job.clip.rate)))
    clip_s = len(job.clip.samples) / job.clip.rate
    try:
        try:
            answer: dict[str, Any] | None = await client.wait_for(_answered, timeout=clip_s + ANSWER_WAIT_S)
        except TimeoutError:
            answer = None
        return _outcome(job, client, started, answer)
    finally:
        streaming.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await streaming
        await client.close()


def _outcome(job: Job, client: VoiceClient, started: float, answer: dict[str, Any] | None) -> Outcome:
    turn = None if answer is None else answer.get("turn_id")
    finals = [e for e in client.of_type("transcript") if e["is_final"] and e["turn_id"] == turn]
    ended = [e for e in client.of_type("speech_ended") if e["turn_id"] == turn]
    final_at = finals[0]["_at"] if finals else None
    intent = answer if answer is not None and answer["type"] == "intent" else None
    return Outcome(
        engine=job.engine,
        condition=job.condition,
        voice=job.voice,
        text=job.request.text,
        intent=job.request.intent,
        parameters=dict(job.request.parameters),
        got_intent=None if intent is None else intent["name"],
        got_parameters={} if intent is None else dict(intent["parameters"]),
        transcript=finals[0]["text"] if finals else "",
        latency_s=None if final_at is None else final_at - (started + job.clip.speech_end_s),
        after_end_event_s=None if final_at is None or not ended else final_at - ended[0]["_at"],
        error=None if answer is None or answer["type"] != "error" else answer["code"],
    )


async def run_jobs(
    base_url: str, jobs: list[Job], limit: asyncio.Semaphore, done: Callable[[Outcome], None]
) -> list[Outcome]:
    """Every job, `limit` at a time; `done` is told of each outcome as it comes."""
    async with aiohttp.ClientSession() as http:

        async def one(job: Job) -> Outcome:
            async with limit:
                outcome = await run_job(http, base_url, job)
            done(outcome)
            return outcome

        return list(await asyncio.gather(*(one(job) for job in jobs)))
