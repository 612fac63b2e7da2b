"""False interruptions through the whole stack: noise-only sounds played while the bot answers.

The stack runs as processes (harness.stack) with the scripted local agent (`VOICECHAT_LOCAL_CX_SCRIPTED=1`: a
fixed ~2 s answer) and the VAD engine under test. Each session, in real time: says a request (an `eval` voice),
streams silence until the answer's first `audio_response`, then streams a noise-only sound (one kind per answer,
in rotation) until the answer ends (`audio_end`) or is interrupted, then a short silence, and again. Exposure is
the time from the first `audio_response` to `audio_end` / `interrupted`. Counted per kind of noise: `interrupted`
(confirmed interruptions), `paused` and `resumed` (interruptions taken back), when the stack sends them.
"""

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bench.noise.corpus import EVAL, NOISE_ONLY, noise, to_pcm
from harness.procs import wait_http
from harness.speech import frames, utterance
from harness.stack import FULL_STACK, running_stack
from shared.audio import FRAME_BYTES
from shared.protocol import ends_turn
from voice_client.recorder import VoiceClient, connect

SILENCE = bytes(FRAME_BYTES)
GAP_S = 0.8
ANSWER_TIMEOUT_S = 10.0
COUNTED = ("interrupted", "paused", "resumed")


@dataclass
class Tally:
    exposure_s: Counter[str] = field(default_factory=Counter)
    events: Counter[str] = field(default_factory=Counter)  # "<noise>:<event type>"
    answers: Counter[str] = field(default_factory=Counter)
    lost_answers: int = 0


def _cut(pcm: bytes) -> list[bytes]:
    return [pcm[i : i + FRAME_BYTES] for i in range(0, len(pcm) - FRAME_BYTES + 1, FRAME_BYTES)]


class Shopper:
    """One session's real-time loop: request, wait, noise over the answer, gap."""

    def __init__(self, client: VoiceClient, index: int, noises: dict[str, list[bytes]], tally: Tally) -> None:
        self.client = client
        self.index = index
        self.noises = noises
        self.tally = tally
        self.seen = 0  # events already looked at
        self.handled_turn = 0
        self.open_turns: set[int] = set()
        self.closed: set[int] = set()

    def _request(self, turn: int) -> list[bytes]:
        voice = EVAL.voices[(self.index + turn) % len(EVAL.voices)]
        text = EVAL.texts[(self.index * 3 + turn) % len(EVAL.texts)]
        return frames(utterance(text, voice=voice, lead_ms=200, tail_ms=0), 16000)

    def _new_events(self) -> list[dict[str, Any]]:
        events = self.client.events[self.seen :]
        self.seen += len(events)
        for event in events:
            self._track(event)
        return events

    def _track(self, event: dict[str, Any]) -> None:
        turn = event.get("turn_id")
        if turn is None:
            return
        if ends_turn(event["type"], event.get("code")):
            self.open_turns.discard(turn)
            self.closed.add(turn)
        elif turn not in self.closed:
            self.open_turns.add(turn)

    async def _settle(self, send: Any) -> None:
        """Silence until no turn is under way (a turn a false start opened gets its answer first)."""
        started = time.monotonic()
        while time.monotonic() - started < ANSWER_TIMEOUT_S:
            self._new_events()
            if not self.open_turns:
                return
            await send(SILENCE)

    async def run(self, until: float) -> None:
        ws, clock, sent = self.client.ws, time.monotonic(), 0
        turn = 0

        async def send(frame: bytes) -> None:
            nonlocal sent
            await ws.send_bytes(frame)
            sent += 1
            delay = clock + sent * 0.02 - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)

        while time.monotonic() < until:
            await self._settle(send)
            self.handled_turn = max([self.handled_turn, *self.closed])
            for frame in self._request(turn):
                await send(frame)
            answer = None
            waited = time.monotonic()
            while answer is None and time.monotonic() - waited < ANSWER_TIMEOUT_S:
                answer = self._answer_started()
                await send(SILENCE)
            if answer is None:
                self.tally.lost_answers += 1
                continue
            kind = NOISE_ONLY[(self.index + turn) % len(NOISE_ONLY)]
            await self._over_answer(answer, kind, send)
            for _ in range(int(GAP_S / 0.02)):
                await send(SILENCE)
            turn += 1

    def _answer_started(self) -> dict[str, Any] | None:
        """The turn of a new answer's first audio; events after it stay unread (they belong to the answer)."""
        events = self.client.events
        while self.seen < len(events):
            event = events[self.seen]
            self.seen += 1
            self._track(event)
            if event["type"] == "audio_response" and event["turn_id"] > self.handled_turn:
                self.handled_turn = event["turn_id"]
                return event
        return None

    async def _over_answer(self, answer: dict[str, Any], kind: str, send: Any) -> None:
        sound, turn_id, started, position = self.noises[kind], answer["turn_id"], answer["_at"], 0
        self.tally.answers[kind] += 1
        while True:
            for event in self._new_events():
                if event.get("turn_id") != turn_id:
                    continue
                if event["type"] in COUNTED:
                    self.tally.events[f"{kind}:{event['type']}"] += 1
                if ends_turn(event["type"], event.get("code")):
                    self.tally.exposure_s[kind] += event["_at"] - started
                    return
            if time.monotonic() - started > ANSWER_TIMEOUT_S:
                self.tally.lost_answers += 1
                return
            await send(sound[position % len(sound)])
            position += 1


async def _drive(base: str, sessions: int, seconds: float) -> Tally:
    noises = {kind: _cut(to_pcm(noise(kind, EVAL.name, 20.0))) for kind in NOISE_ONLY}
    tally = Tally()
    async with aiohttp.ClientSession() as http:
        clients = [await connect(http, base) for _ in range(sessions)]
        until = time.monotonic() + seconds
        shoppers = [Shopper(client, index, noises, tally) for index, client in enumerate(clients)]
        await asyncio.gather(*(s.run(until) for s in shoppers))
        for client in clients:
            await client.close()
    return tally


def false_interruptions(engine: str, sessions: int, seconds: float) -> dict[str, Any]:
    env = {"VOICECHAT_LOCAL_CX_SCRIPTED": "1", "VOICECHAT_VAD_ENGINE": engine}
    with running_stack(FULL_STACK, env) as stack:
        wait_http(stack.gateway.base_url + "/readyz")
        tally = asyncio.run(_drive(stack.gateway.base_url, sessions, seconds))
    per_kind: dict[str, dict[str, Any]] = {}
    for kind in NOISE_ONLY:
        minutes = tally.exposure_s[kind] / 60
        counts = {name: tally.events[f"{kind}:{name}"] for name in COUNTED}
        per_kind[kind] = {
            "answers": tally.answers[kind],
            "bot_speech_min": round(minutes, 2),
            **counts,
            "confirmed_per_min": round(counts["interrupted"] / minutes, 2) if minutes else None,
        }
    minutes = sum(tally.exposure_s.values()) / 60
    confirmed = sum(v["interrupted"] for v in per_kind.values())
    return {
        "engine": engine,
        "sessions": sessions,
        "bot_speech_min": round(minutes, 2),
        "confirmed": confirmed,
        "paused": sum(v["paused"] for v in per_kind.values()),
        "taken_back": sum(v["resumed"] for v in per_kind.values()),
        "confirmed_per_10_min": round(10 * confirmed / minutes, 2) if minutes else None,
        "lost_answers": tally.lost_answers,
        "per_noise": per_kind,
    }
