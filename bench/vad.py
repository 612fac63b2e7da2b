"""VAD benchmarks: detector frames/s in one process, and frame-to-`speech_started` latency of real-time sessions.

Sessions start at random moments within two seconds. The latency clock starts when the client sends the frame
that completes the VAD's start window (found by running
the same deterministic detector over the same audio locally) and stops when `speech_started` arrives.
"""

import asyncio
import time
from typing import Any

import aiohttp
import numpy as np
import psutil

from harness.procs import wait_http
from harness.speech import utterance
from harness.stack import FULL_STACK, Stack, running_stack
from shared.audio import FRAME_BYTES, array_to_pcm
from shared.settings import VadSettings, load_settings
from vad_worker.smoother import SpeechStart
from vad_worker.worker import make_detector
from voice_client.recorder import VoiceClient, connect


def detector_throughput(seconds: float = 2.0) -> float:
    """30 ms frames per second through webrtcvad and the smoother (the per-frame work of the worker)."""
    settings = load_settings(VadSettings, {"VOICECHAT_VAD_FRAME_MS": "30"})
    detector = make_detector(settings)._vad
    smoother = make_detector(settings).smoother
    speech = array_to_pcm(utterance("show me running shoes under fifty dollars"))
    frames = [speech[i : i + 960] for i in range(0, len(speech) - 960, 960)]
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for offset, frame in enumerate(frames):
            smoother.push(detector.is_speech(frame, 16000), offset * 30)
        count += len(frames)
    return count / (time.perf_counter() - started)


def trigger_frame(pcm: bytes) -> int:
    """Index of the 20 ms frame after which the worker's detector reports speech."""
    detector = make_detector(load_settings(VadSettings, {}))
    for index in range(len(pcm) // FRAME_BYTES):
        if any(
            isinstance(e, SpeechStart)
            for e in detector.feed(index, pcm[index * FRAME_BYTES : (index + 1) * FRAME_BYTES])
        ):
            return index
    raise ValueError("no speech in the benchmark audio")


async def _session(
    client: VoiceClient, frames: list[bytes], trigger: int, latencies: list[float], stagger_s: float
) -> None:
    await asyncio.sleep(stagger_s)  # sessions start at different moments, as real shoppers do
    started = time.monotonic()
    sent_at = 0.0
    for index, frame in enumerate(frames):
        await client.ws.send_bytes(frame)
        if index == trigger:
            sent_at = time.monotonic()
        delay = started + (index + 1) * 0.02 - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
    event = await client.wait_for("speech_started", timeout=10)
    latencies.append((event["_at"] - sent_at) * 1000)


async def _load(base: str, sessions: int, pcm: bytes) -> list[float]:
    frames = [pcm[i : i + FRAME_BYTES] for i in range(0, len(pcm), FRAME_BYTES)]
    trigger = trigger_frame(pcm)
    latencies: list[float] = []
    async with aiohttp.ClientSession() as http:
        clients = [await connect(http, base) for _ in range(sessions)]
        staggers = np.random.default_rng(7).uniform(0, 2.0, len(clients))
        await asyncio.gather(
            *(_session(c, frames, trigger, latencies, float(s)) for c, s in zip(clients, staggers, strict=True))
        )
        for client in clients:
            await client.close()
    return latencies


def _cpu(stack: Stack) -> dict[str, psutil.Process]:
    return {f"{s.module}#{i}": psutil.Process(s.proc.pid) for i, s in enumerate(stack.services) if s.proc}


def realtime_latency(sessions: int) -> dict[str, Any]:
    pcm = array_to_pcm(utterance("hello, show me some sunglasses", lead_ms=1000, tail_ms=1000))
    with running_stack(FULL_STACK, {"VOICECHAT_LOCAL_CX_SCRIPTED": "1"}) as stack:
        wait_http(stack.gateway.base_url + "/readyz")
        procs = _cpu(stack)
        before = {name: p.cpu_times() for name, p in procs.items()}
        wall = time.monotonic()
        latencies = asyncio.run(_load(stack.gateway.base_url, sessions, pcm))
        wall = time.monotonic() - wall
        cpu = {
            name: round(100 * (sum(p.cpu_times()[:2]) - sum(before[name][:2])) / wall, 1) for name, p in procs.items()
        }
    values = np.array(latencies)
    return {
        "sessions": sessions,
        "frame_to_speech_started_ms_p50": round(float(np.percentile(values, 50)), 2),
        "frame_to_speech_started_ms_p99": round(float(np.percentile(values, 99)), 2),
        "cpu_percent_of_core": cpu,
    }


def run(quick: bool = True) -> dict[str, Any]:
    figures: dict[str, Any] = {"detector_frames_per_s_30ms": round(detector_throughput(1.0 if quick else 5.0))}
    figures["realtime"] = realtime_latency(100)
    print(f"VAD detector: {figures['detector_frames_per_s_30ms']:,} frames/s of 30 ms in one process")
    rt = figures["realtime"]
    print(
        f"{rt['sessions']} real-time sessions: frame-to-speech_started p50 {rt['frame_to_speech_started_ms_p50']} ms, "
        f"p99 {rt['frame_to_speech_started_ms_p99']} ms; CPU % of a core: {rt['cpu_percent_of_core']}"
    )
    return figures


if __name__ == "__main__":
    run()
