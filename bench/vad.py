"""VAD benchmarks, per engine (`webrtc`, `silero`): detector frames/s in one process (Silero alone and batched over
many streams), and real-time sessions through the whole stack: frame-to-`speech_started` latency, the VAD worker's
frames/s and CPU per session at 100 and 300 sessions.

Sessions start at random moments within two seconds and loop one utterance (silence around it) for the whole
run. The latency clock starts when the client sends the frame that completes the VAD's start window (found by
running the same deterministic detector over the same audio locally; first utterance of each session) and stops
when `speech_started` arrives. CPU is measured on the VAD worker process over a window once every session
streams, and divided by the frames it classified in that window: CPU per session is per 50 frames a second (one
real-time session), so a loaded machine whose load generator falls behind (`vad_worker_frames_per_s` below
`frames_per_s_offered`) does not skew it.
"""

import asyncio
import time
from typing import Any

import aiohttp
import numpy as np
import psutil

from bench.system.procs import scrape
from harness.procs import wait_http
from harness.speech import utterance
from harness.stack import FULL_STACK, running_stack
from shared.audio import FRAME_BYTES, array_to_pcm
from shared.settings import VadSettings, load_settings
from vad_worker.batcher import BatchedStream, Batcher
from vad_worker.smoother import SmootherEvent, SpeechStart
from vad_worker.worker import make_detector, make_silero_stream, shared_pool
from voice_client.recorder import VoiceClient, connect

ENGINES = ("webrtc", "silero")
SESSIONS = (100, 300)
STAGGER_S = 2.0
TEXT = "hello, show me some sunglasses"


def _settings(engine: str) -> VadSettings:
    return load_settings(VadSettings, {"VOICECHAT_VAD_ENGINE": engine})


def _frames() -> list[bytes]:
    pcm = array_to_pcm(utterance(TEXT, lead_ms=1000, tail_ms=1000))
    return [pcm[i : i + FRAME_BYTES] for i in range(0, len(pcm) - FRAME_BYTES + 1, FRAME_BYTES)]


def detector_throughput(engine: str, seconds: float) -> float:
    """20 ms bus frames per CPU second through one standalone detector (Silero: one window per model call)."""
    frames = _frames()
    count, started = 0, time.process_time()
    while time.process_time() - started < seconds:
        detector = make_detector(_settings(engine))
        for seq, frame in enumerate(frames):
            detector.feed(seq, frame)
        count += len(frames)
    return count / (time.process_time() - started)


async def _discard(_: SmootherEvent) -> None:
    """Events of the offline batch benchmark go nowhere."""


def batched_throughput(streams: int, seconds: float) -> float:
    """20 ms bus frames per CPU second through the worker's batcher with `streams` sessions in every call."""
    settings = _settings("silero")
    batcher = Batcher(shared_pool(), settings.vad_batch_wait_ms, settings.vad_batch_max)
    frames = _frames()
    sessions = [BatchedStream(make_silero_stream(settings), _discard) for _ in range(streams)]
    count, seq, started = 0, 0, time.process_time()
    while time.process_time() - started < seconds:
        frame = frames[seq % len(frames)]
        for session in sessions:
            batcher.enqueue(session, seq, frame)
        batcher.decide(batcher.take())
        count += streams
        seq += 1
    for session in sessions:
        session.close()
    return count / (time.process_time() - started)


def trigger_frame(frames: list[bytes], engine: str) -> int:
    """Index of the 20 ms frame after which the worker's detector reports speech."""
    detector = make_detector(_settings(engine))
    for index, frame in enumerate(frames):
        if any(isinstance(e, SpeechStart) for e in detector.feed(index, frame)):
            return index
    raise ValueError("no speech in the benchmark audio")


async def _session(
    client: VoiceClient, frames: list[bytes], trigger: int, stagger_s: float, until: float, outcome: dict[str, Any]
) -> None:
    """Stream in real time; a session that falls behind skips ahead (no burst) and counts the time it lost."""
    await asyncio.sleep(stagger_s)  # sessions start at different moments, as real shoppers do
    started = time.monotonic()
    sent_at = 0.0
    index = 0
    try:
        while time.monotonic() < until:
            await client.ws.send_bytes(frames[index % len(frames)])
            if index == trigger:
                sent_at = time.monotonic()
            index += 1
            delay = started + index * 0.02 - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -0.1:
                outcome["lag_s"] -= delay
                started -= delay
        event = await client.wait_for("speech_started", timeout=10)
    except (aiohttp.ClientError, ConnectionError, TimeoutError):
        outcome["failed"] += 1
        return
    outcome["latencies"].append((event["_at"] - sent_at) * 1000)


async def _load(base: str, sessions: int, engine: str, measure_s: float, vad: psutil.Process, metrics: str) -> Any:
    frames = _frames()
    trigger = trigger_frame(frames, engine)
    outcome: dict[str, Any] = {"latencies": [], "failed": 0, "lag_s": 0.0}
    async with aiohttp.ClientSession() as http:
        clients = [await connect(http, base) for _ in range(sessions)]
        staggers = np.random.default_rng(7).uniform(0, STAGGER_S, len(clients))
        begin = time.monotonic()
        until = begin + STAGGER_S + measure_s + 1.0
        load = asyncio.gather(
            *(_session(c, frames, trigger, float(s), until, outcome) for c, s in zip(clients, staggers, strict=True))
        )
        await asyncio.sleep(STAGGER_S + 0.5)
        cpu_before, frames_before, wall = sum(vad.cpu_times()[:2]), _vad_frames(metrics), time.monotonic()
        await asyncio.sleep(measure_s)
        cpu = sum(vad.cpu_times()[:2]) - cpu_before
        frames_done = _vad_frames(metrics) - frames_before
        wall = time.monotonic() - wall
        await load
        for client in clients:
            await client.close()
    return outcome, cpu / wall, frames_done / wall


def _vad_frames(metrics: str) -> float:
    return scrape(metrics, ("voicechat_vad_frames_total",))["voicechat_vad_frames_total"]


def realtime(engine: str, sessions: int, measure_s: float) -> dict[str, Any]:
    env = {"VOICECHAT_LOCAL_CX_SCRIPTED": "1", "VOICECHAT_VAD_ENGINE": engine, "VOICECHAT_MAX_SESSIONS": "1000"}
    with running_stack(FULL_STACK, env) as stack:
        wait_http(stack.gateway.base_url + "/readyz")
        worker = next(s for s in stack.services if s.module == "vad_worker")
        assert worker.proc is not None
        outcome, cores, frames_per_s = asyncio.run(
            _load(
                stack.gateway.base_url,
                sessions,
                engine,
                measure_s,
                psutil.Process(worker.proc.pid),
                worker.base_url + "/metrics",
            )
        )
    values = np.array(outcome["latencies"] or [np.nan])
    return {
        "engine": engine,
        "sessions": sessions,
        "frame_to_speech_started_ms_p50": round(float(np.percentile(values, 50)), 2),
        "frame_to_speech_started_ms_p99": round(float(np.percentile(values, 99)), 2),
        "sessions_failed": outcome["failed"],
        "loadgen_lag_s_per_session": round(outcome["lag_s"] / sessions, 2),
        "vad_worker_frames_per_s": round(frames_per_s),
        "frames_per_s_offered": sessions * 50,
        "vad_worker_cpu_percent_of_core": round(100 * cores, 1),
        # per second of one session's audio (50 frames), so a load generator that falls behind does not skew it
        "vad_worker_cpu_percent_per_session": round(100 * cores / (frames_per_s / 50), 3) if frames_per_s else None,
    }


def run(quick: bool = True) -> dict[str, Any]:
    seconds = 1.0 if quick else 5.0
    figures: dict[str, Any] = {
        "detector_frames_per_cpu_s": {engine: round(detector_throughput(engine, seconds)) for engine in ENGINES},
        "silero_batched_frames_per_cpu_s": {n: round(batched_throughput(n, seconds)) for n in (16, 64, 256)},
    }
    print(f"VAD detectors, 20 ms frames per CPU second, one stream: {figures['detector_frames_per_cpu_s']}")
    print(f"Silero batched over N streams, frames per CPU second: {figures['silero_batched_frames_per_cpu_s']}")
    runs = [realtime(engine, n, 5.0 if quick else 20.0) for n in SESSIONS for engine in ENGINES]
    figures["realtime"] = runs
    for rt in runs:
        print(
            f"{rt['engine']:>6} x {rt['sessions']} sessions: frame-to-speech_started p50 "
            f"{rt['frame_to_speech_started_ms_p50']} ms, p99 {rt['frame_to_speech_started_ms_p99']} ms; VAD worker "
            f"{rt['vad_worker_frames_per_s']} of {rt['frames_per_s_offered']} frames/s, "
            f"{rt['vad_worker_cpu_percent_of_core']} % of a core, "
            f"{rt['vad_worker_cpu_percent_per_session']} % per session; {rt['sessions_failed']} sessions failed, "
            f"load generator behind by {rt['loadgen_lag_s_per_session']} s per session"
        )
    figures["cpu_per_session_silero_over_webrtc"] = {
        n: _ratio(runs, n) for n in SESSIONS if _ratio(runs, n) is not None
    }
    print(f"CPU per session, silero / webrtc: {figures['cpu_per_session_silero_over_webrtc']} (target <= 2)")
    return figures


def _ratio(runs: list[dict[str, Any]], sessions: int) -> float | None:
    by = {r["engine"]: r["vad_worker_cpu_percent_per_session"] for r in runs if r["sessions"] == sessions}
    return round(by["silero"] / by["webrtc"], 2) if by.get("webrtc") and by.get("silero") else None


if __name__ == "__main__":
    run()
