"""Phone calls through the whole stack (real processes, the local agent): the fake Twilio (harness/fake_twilio.py)
speaks Twilio's protocol, sends real speech as 8 kHz mu-law in real time and plays the answer back in real time."""

import asyncio
import base64
import time
from collections.abc import Iterator

import aiohttp
import numpy as np
import pytest

from harness.fake_twilio import FRAME_BYTES, FakeTwilioCall
from harness.procs import wait_http
from harness.speech import utterance
from harness.stack import FULL_STACK, Stack, running_stack
from tests.support.twilio import dial
from voice_client.recorder import connect


@pytest.fixture(scope="module")
def full_stack() -> Iterator[Stack]:
    with running_stack(FULL_STACK) as stack:
        wait_http(stack.gateway.base_url + "/readyz")
        yield stack


def mark_names(call: FakeTwilioCall) -> list[str]:
    return [r.message["mark"]["name"] for r in call.received if r.message["event"] == "mark"]


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) if samples.size else 0.0


async def test_spoken_request_gets_a_spoken_answer(full_stack: Stack, http: aiohttp.ClientSession) -> None:
    call = await dial(http, full_stack.gateway.base_url)
    asked = time.monotonic()
    await call.say(utterance("show me running shoes under fifty dollars", 8000, "en-us+f2"))
    mark = await call.wait_for("mark", within=60, after=asked)
    assert mark.message == {"event": "mark", "streamSid": call.stream_sid, "mark": {"name": "answer-1"}}
    media = call.media_received(after=asked)
    assert all(m.message["streamSid"] == call.stream_sid for m in media)
    payloads = [base64.b64decode(m.message["media"]["payload"]) for m in media]
    assert {len(p) for p in payloads} == {FRAME_BYTES} and len(payloads) * 0.02 >= 1.0  # 20 ms mu-law frames
    await call.played("answer-1")
    assert rms(call.played_pcm()) > 500  # speech, not silence
    await call.hang_up()


async def test_keypad_request_is_the_typed_request(full_stack: Stack, http: aiohttp.ClientSession) -> None:
    """ "7#" asks what typing "tell me about product 7" asks: the same spoken answer (espeak-ng is deterministic)."""
    app = await connect(http, full_stack.gateway.base_url)
    await app.send({"type": "text_input", "text": "tell me about product 7"})
    await app.wait_for("audio_end", timeout=30)
    typed_s = sum(len(base64.b64decode(e["data"])) / 2 / e["sample_rate"] for e in app.of_type("audio_response"))
    await app.close()
    call = await dial(http, full_stack.gateway.base_url)
    await call.press("7#")
    await call.wait_for("mark", within=30)
    phoned_s = len(call.media_received()) * 0.02
    assert abs(phoned_s - typed_s) <= 0.04, (phoned_s, typed_s)
    await call.hang_up()


async def test_speaking_over_the_answer_clears_it(full_stack: Stack, http: aiohttp.ClientSession) -> None:
    call = await dial(http, full_stack.gateway.base_url)
    await call.press("3#")
    first = await call.wait_for("media", within=30)
    await asyncio.sleep(1.0)  # past the echo guard, well inside the answer
    spoke = await call.say(utterance("hello what can you do", 8000, "en+klatt", lead_ms=100))
    clear = await call.wait_for("clear", within=10, after=first.at)
    assert spoke < clear.at and clear.message == {"event": "clear", "streamSid": call.stream_sid}
    assert call.playback.buffered_bytes() < FRAME_BYTES * 10  # Twilio held only the pacer's small lead
    greeting = await call.wait_for("mark", within=60, after=clear.at)
    assert mark_names(call) == ["answer-2"] and greeting.message["mark"]["name"] == "answer-2"  # answer 1 never ended
    answer_1 = [m for m in call.media_received() if first.at <= m.at <= clear.at]
    assert 1.0 <= len(answer_1) * 0.02 < 4.0  # cut short: product 3's full answer is longer
    await call.hang_up()
