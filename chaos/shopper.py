"""A chaos-test shopper: one session doing typed turns in a loop, resuming on the other gateway when dropped; on
request it resumes on both gateways at once while its socket is still open (two sockets race for the session:
exactly one keeps it, the others get `session_replaced`), or talks over the answers it gets (real speech,
harness/speech.py: a barge-in; the interrupted turn and the spoken one that follows are its turns)."""

import asyncio
import functools
import random
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from harness.speech import frames, utterance
from shared.protocol import TURN_FAILING_ERRORS, ends_turn
from voice_client.recorder import VoiceClient, connect

REQUESTS = ("hello what can you do", "show me some sunglasses", "tell me about product five")
BARGE_IN = "wait, show me something cheaper"
THINK_S = (0.1, 0.6)  # a shopper's pause between turns, drawn anew each time: shoppers do not move in step
ECHO_GUARD_S = 0.4  # a barge-in starts this long into the answer (past the server's echo guard)


@functools.cache
def barge_in_speech() -> list[bytes]:
    """The words a shopper says over an answer, as 20 ms frames at 16 kHz (synthesized once)."""
    return frames(utterance(BARGE_IN, 16000, "en+klatt", lead_ms=100, tail_ms=900), 16000)


def _starts_turn(event: dict[str, Any], previous_turn: int) -> bool:
    """Our typed request's turn shows itself by its transcript, or by an error that fails it at once."""
    if event.get("turn_id", 0) <= previous_turn:
        return event["type"] == "error" and event.get("fatal") is True
    return event["type"] == "transcript" or (event["type"] == "error" and event.get("code") in TURN_FAILING_ERRORS)


def _ends_turn(event: dict[str, Any], turn: int) -> bool:
    """The end of `turn`: an event of it that ends it (`ends_turn`), or a fatal error (the session ends)."""
    if event["type"] == "error" and event.get("fatal") is True:
        return True
    return event.get("turn_id") == turn and ends_turn(event["type"], event.get("code"))


@dataclass
class Turn:
    started: float
    ended: float
    ok: bool
    detail: str


@dataclass
class Shopper:
    """Its session is lost when it can no longer resume or complete a turn."""

    index: int
    gateways: list[str]
    turns: list[Turn] = field(default_factory=list)
    lost: str | None = None
    resumes: int = 0
    dropped: int = 0
    duel_requested: bool = False
    duels: int = 0
    barging: bool = False  # talk over every answer while set
    barge_ins: int = 0
    clients: list[VoiceClient] = field(default_factory=list)  # every socket it used: events judged afterwards
    _client: VoiceClient | None = None
    _think: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._think = random.Random(self.index)  # the same pauses in every run

    async def run(self, http: aiohttp.ClientSession, stop: asyncio.Event) -> None:
        gateway = self.index % len(self.gateways)
        self._client = await connect(http, self.gateways[gateway])
        self.clients.append(self._client)
        turn_id = 0
        while not stop.is_set() and self.lost is None:
            if self.duel_requested:
                self.duel_requested = False
                await self._duel(http)
            if self._client.ws.closed:
                gateway = await self._resume(http, gateway + 1)
                continue
            turn_id = await self._turn(turn_id)
            await asyncio.sleep(self._think.uniform(*THINK_S))
        if self._client is not None:
            await self._client.close()

    async def _turn(self, last_turn: int) -> int:
        assert self._client is not None
        client = self._client
        text = REQUESTS[len(self.turns) % len(REQUESTS)]
        started = time.monotonic()
        seen = len(client.events)
        try:
            await client.send({"type": "text_input", "text": text})
            first = await client.wait_for(lambda e: client.events.index(e) >= seen and _starts_turn(e, last_turn), 30)
            turn = int(first.get("turn_id") or last_turn + 1)
            if self.barging and first["type"] != "error":
                return await self._barge_in(turn, started)
            end = first if first["type"] == "error" else await client.wait_for(lambda e: _ends_turn(e, turn), 30)
        except TimeoutError:
            end = {"type": "timeout", "turn_id": last_turn}
        except ConnectionError:
            self.dropped += 1
            return last_turn  # the gateway went away mid-turn: resume and ask again
        ok = end["type"] == "audio_end"
        self.turns.append(Turn(started, time.monotonic(), ok, f"{end['type']}:{end.get('code', '')}"))
        return int(end.get("turn_id") or last_turn)

    @property
    def talking_over_answer(self) -> bool:
        """The server paused an answer for this shopper's speech, undecided yet."""
        return self._client is not None and self._client.paused_turn is not None

    async def _barge_in(self, turn: int, started: float) -> int:
        """Talk over the answer of `turn`: it ends interrupted (or, when the answer was over first, with its
        `audio_end`), and the speech is the next turn, which must be answered. Returns the spoken turn."""
        assert self._client is not None
        client = self._client
        answer = await client.wait_for(lambda e: e.get("turn_id") == turn and e["type"] == "audio_response", 30)
        await asyncio.sleep(max(0.0, answer["_at"] + ECHO_GUARD_S - time.monotonic()))
        self.barge_ins += 1
        await client.stream(barge_in_speech())
        end = await client.wait_for(lambda e: _ends_turn(e, turn), 30)
        ok = end["type"] in ("audio_end", "interrupted")
        self.turns.append(Turn(started, time.monotonic(), ok, f"{end['type']}:{end.get('code', '')}"))
        spoken = await client.wait_for(lambda e: _ends_turn(e, turn + 1), 30)
        ok = spoken["type"] == "audio_end"
        self.turns.append(Turn(end["_at"], time.monotonic(), ok, f"{spoken['type']}:{spoken.get('code', '')}"))
        return turn + 1

    async def _duel(self, http: aiohttp.ClientSession) -> None:
        """Resume on every gateway at once, the current socket still open; carry on with the one that holds the
        session (the newest writer wins; every other socket is told `session_replaced`)."""
        assert self._client is not None
        token, old = self._client.resume_token, self._client
        rivals = await asyncio.gather(
            *(connect(http, url, wait_start=False, resume=token) for url in self.gateways), return_exceptions=True
        )
        sockets = [old, *(r for r in rivals if isinstance(r, VoiceClient))]
        self.clients += sockets[1:]
        await asyncio.sleep(3.0)  # every takeover has landed
        holders = [c for c in sockets if not c.ws.closed and not c.of_type("error")]
        self.duels += 1
        if len(holders) != 1:
            self.lost = f"{len(holders)} sockets hold the session after two resumed it at once"
            return
        for other in sockets:
            if other is not holders[0]:
                await other.ws.close()
        self._client = holders[0]

    async def _resume(self, http: aiohttp.ClientSession, gateway: int) -> int:
        assert self._client is not None
        token = self._client.resume_token  # the latest: session_start's or a re-issued one
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            index = gateway % len(self.gateways)
            client = None
            try:
                client = await connect(http, self.gateways[index], wait_start=False, resume=token)
                first = await client.wait_for(lambda e: e["type"] in ("session_start", "error"), timeout=5)
            except (aiohttp.ClientError, TimeoutError):
                if client is not None:  # a slow attempt left open would take the session over from the next one
                    await client.ws.close()
                gateway += 1
                await asyncio.sleep(0.5)
                continue
            if first["type"] == "session_start":
                self._client, self.resumes = client, self.resumes + 1
                self.clients.append(client)
                return index
            await client.close()
            if first.get("code") == "session_not_found":
                self.lost = "resume refused: session_not_found"
                return index
            gateway += 1
            await asyncio.sleep(0.5)
        self.lost = "could not resume within 20 s"
        return gateway


def late_events(client: VoiceClient) -> list[float]:
    """When events arrived after their turn had ended (audio_end, interrupted or a turn-ending error)."""
    ended: set[int] = set()
    late = []
    for event in client.events:
        turn = event.get("turn_id")
        if turn is None:
            continue
        if turn in ended:
            late.append(float(event["_at"]))
        elif ends_turn(event["type"], event.get("code")):
            ended.add(turn)
    return late


def stale_events(client: VoiceClient) -> list[float]:
    """When events of a turn older than one already under way arrived (another owner's, or an older epoch's)."""
    newest = 0
    stale = []
    for event in client.events:
        turn = event.get("turn_id")
        if turn is None:
            continue
        if turn < newest and not ends_turn(event["type"], event.get("code")):
            stale.append(float(event["_at"]))
        newest = max(newest, turn)
    return stale
