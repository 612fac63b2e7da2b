"""The chaos fault "CX UNAVAILABLE mid-speech": a session of its own speaks a long request, and while it speaks the
local agent's speech streams fail UNAVAILABLE (SIGUSR1/SIGUSR2: local_agent/outage.py) until the turn's error is
in. That turn must end once (`error`), while the speech goes on, with nothing of it after; the rest of the
utterance must open no turn, and the next utterance must be answered as the next turn (dialog_worker/turns.py)."""

import asyncio
import signal
from collections.abc import Callable
from typing import Any

import aiohttp

from harness.procs import Service
from harness.speech import frames, utterance
from shared.protocol import ends_turn
from voice_client.recorder import VoiceClient, connect

RATE = 16000
REQUEST = "show me some running shoes in size ten please " * 3  # about 8 s of speech: the outage lands inside it
WAIT_S = 15.0  # the dialog worker retries a failed stream start for VOICECHAT_DIALOG_START_RETRY_S (3 s) first


def _ends(turn: int) -> Callable[[dict[str, Any]], bool]:
    return lambda e: e.get("turn_id") == turn and ends_turn(e["type"], e.get("code"))


async def speak_through_outage(gateway: str, agent: Service) -> list[str]:
    """What went wrong (empty: nothing)."""
    async with aiohttp.ClientSession() as http:
        client = await connect(http, gateway)
        try:
            return await _speak(client, agent)
        except (TimeoutError, ConnectionError) as exc:
            return [f"{type(exc).__name__}: {exc}"]
        finally:
            agent.signal(signal.SIGUSR2)
            await client.close()


async def _speak(client: VoiceClient, agent: Service) -> list[str]:
    speaking = asyncio.create_task(client.stream(frames(utterance(REQUEST, RATE, "en-us+f2", lead_ms=200), RATE)))
    turn = int((await client.wait_for("speech_started", WAIT_S))["turn_id"])
    agent.signal(signal.SIGUSR1)
    end = await client.wait_for(_ends(turn), WAIT_S)
    agent.signal(signal.SIGUSR2)
    problems = [] if not speaking.done() else ["the turn ended after the utterance, not during it"]
    await speaking
    await client.stream(frames(utterance("", RATE, lead_ms=0, tail_ms=1500), RATE))  # silence: the VAD ends it
    if any(e.get("turn_id", 0) > turn for e in client.events):
        problems.append("the rest of the failed utterance opened a turn")
    await client.stream(frames(utterance("hello there", RATE, "en-us+f2"), RATE))
    answer = await client.wait_for(_ends(turn + 1), 30)
    of_turn = [e["type"] for e in client.events if e.get("turn_id") == turn]
    if end["type"] != "error" or of_turn.count("error") != 1 or of_turn[-1] != "error":
        problems.append(f"turn {turn} did not end with one error: {of_turn}")
    if answer["type"] != "audio_end":
        problems.append(f"the next utterance was not answered: {answer}")
    return problems
