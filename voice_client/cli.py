"""`python -m voice_client`: a protocol v1 terminal client and smoke test for any deployment.

Streams a WAV file (in real time, 20 ms frames) or sends typed text, prints every server event as one line,
writes the response audio to a WAV file, can barge in, and exits non-zero when something goes wrong.
"""

import argparse
import asyncio
import contextlib
import itertools
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import aiohttp
import msgspec

from shared.audio import FRAME_MS
from shared.protocol import AnyServerEvent, AudioResponse, SessionStart, server_decoder
from voice_client.audio import InputAudio, ResponseAudio, WavInputError, read_wav
from voice_client.recorder import subprotocols
from voice_client.turn import Outcome, TurnWatch, describe

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_TIMEOUT, EXIT_CONNECTION = 0, 1, 2, 3, 4
FAST_SPEED = 4.0
_EXIT_CODES = {Outcome.COMPLETED: EXIT_OK, Outcome.INTERRUPTED: EXIT_OK}


class ClientFailure(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m voice_client", description=__doc__.split("\n\n")[1])
    parser.add_argument("--url", default="ws://127.0.0.1:8080/ws/voice-chat", help="gateway WebSocket URL")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--wav", type=Path, help="16-bit PCM WAV at 8000, 16000, 32000, 44100 or 48000 Hz")
    source.add_argument("--text", help="a typed query (text_input)")
    parser.add_argument("--out", type=Path, default=Path("response.wav"), help="response audio WAV (%(default)s)")
    parser.add_argument("--barge-in-after-ms", type=int, metavar="N", help="send barge_in N ms into the answer")
    parser.add_argument("--token", help="JWT when the gateway has auth on (sent as Authorization: Bearer)")
    parser.add_argument("--language", default="en-US", help="BCP-47 language tag (%(default)s)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the answer after the input")
    parser.add_argument("--fast", action="store_true", help=f"stream the WAV at {FAST_SPEED:g}x real time")
    args = parser.parse_args(argv)
    if args.barge_in_after_ms is not None and args.barge_in_after_ms < 0:
        parser.error("--barge-in-after-ms must be >= 0")
    return args


def connect_url(url: str, sample_rate: int, language: str) -> str:
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query), ("sample_rate", str(sample_rate)), ("language", language)]
    return urlunsplit(parts._replace(query=urlencode(query)))


class Conversation:
    """One session: wait for `session_start`, send the input, print events until the turn is over."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, args: argparse.Namespace, audio: InputAudio | None):
        self.ws = ws
        self.args = args
        self.audio = audio
        self.watch = TurnWatch(args.barge_in_after_ms)
        self.response = ResponseAudio()
        self.deadline = 0.0

    async def run(self) -> Outcome:
        self.deadline = time.monotonic() + self.args.timeout
        while not isinstance(event := await self._next(), SessionStart):
            if self.watch.feed(event, time.monotonic()) is Outcome.ERROR:
                return Outcome.ERROR
        speed = FAST_SPEED if self.args.fast else 1.0
        self.deadline = time.monotonic() + (self.audio.seconds / speed if self.audio else 0) + self.args.timeout
        sender = asyncio.create_task(self._send_input(speed))
        try:
            while (outcome := self.watch.feed(await self._next(), time.monotonic())) is None:
                pass
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
            if not self.ws.closed:  # whatever happened, let the workers release the session now
                await self.ws.send_json({"type": "end_session"})
        return outcome

    async def _send_input(self, speed: float) -> None:
        if self.audio is None:
            await self.ws.send_json({"type": "text_input", "text": self.args.text})
            return
        await self._stream(self.audio.frames, speed)
        await self._stream(itertools.repeat(self.audio.silence()), 1.0)  # then silence, like an open microphone

    async def _stream(self, frames: Iterable[bytes], speed: float) -> None:
        started = time.monotonic()
        for index, frame in enumerate(frames, 1):
            await self.ws.send_bytes(frame)
            await asyncio.sleep(max(0.0, started + index * FRAME_MS / 1000 / speed - time.monotonic()))

    async def _next(self) -> AnyServerEvent:
        """The next server event (printed), sending `barge_in` when due on the way."""
        while True:
            now = time.monotonic()
            if self.watch.barge_in_now(now):
                await self.ws.send_json({"type": "barge_in"})
                print("> barge_in", flush=True)
            wake = self.watch.wake_at(self.deadline)
            if now >= self.deadline:
                raise ClientFailure(EXIT_TIMEOUT, f"timed out after {self.args.timeout:g} s waiting for the answer")
            try:
                message = await self.ws.receive(timeout=max(0.001, wake - now))
            except TimeoutError:
                continue
            return self._event(message)

    def _event(self, message: aiohttp.WSMessage) -> AnyServerEvent:
        if message.type is not aiohttp.WSMsgType.TEXT:
            reason = f"close code {self.ws.close_code}" if self.ws.close_code else message.type.name
            raise ClientFailure(EXIT_CONNECTION, f"the connection ended before the turn did ({reason})")
        try:
            event: AnyServerEvent = server_decoder.decode(message.data)
        except msgspec.DecodeError as exc:
            raise ClientFailure(EXIT_FAILED, f"not a protocol v1 event: {exc}: {message.data[:200]}") from exc
        if isinstance(event, AudioResponse):
            self.response.add(event)
        print(describe(event), flush=True)
        return event


async def run(args: argparse.Namespace) -> int:
    audio = read_wav(args.wav) if args.wav else None
    url = connect_url(args.url, audio.rate if audio else 16000, args.language)
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}  # a server-side client: a header
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(url, headers=headers, protocols=subprotocols()) as ws,
        ):
            conversation = Conversation(ws, args, audio)
            try:
                outcome = await conversation.run()
            finally:
                conversation.response.write(args.out)
                seconds = conversation.response.samples / conversation.response.rate
                print(f"wrote {args.out}: {seconds:.2f} s of response audio", file=sys.stderr)
    except (aiohttp.ClientError, ConnectionError) as exc:
        raise ClientFailure(EXIT_CONNECTION, f"cannot talk to {args.url}: {exc}") from exc
    print(f"turn {outcome.value}", file=sys.stderr)
    return _EXIT_CODES.get(outcome, EXIT_FAILED)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return asyncio.run(run(args))
    except WavInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ClientFailure as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
