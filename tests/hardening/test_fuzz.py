"""Property-based fuzzing of a running gateway and workers: random JSON, random bytes, random message sequences.

Afterwards every process is alive, every bad input got an error event with a protocol error code, no error leaked
into a bystander session, and a clean session still completes a turn.
"""

import asyncio
import base64
import json
from collections.abc import Iterator
from typing import Any, get_args

import aiohttp
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.procs import wait_http
from harness.stack import FULL_STACK, Stack, running_stack
from shared.protocol import ErrorCode, client_decoder
from voice_client.recorder import connect

CODES = set(get_args(ErrorCode))
TRIED = {"inputs": 0, "bad": 0}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=10,
)
message_types = st.sampled_from(
    ["audio_chunk", "start_speaking", "stop_speaking", "barge_in", "text_input", "ping", "end_session", "nope"]
)
near_valid = st.builds(
    lambda kind, extra: {"type": kind, **extra},
    message_types,
    st.dictionaries(st.sampled_from(["data", "text", "extra", "type"]), json_values, max_size=2),
)
valid = st.sampled_from(
    [
        {"type": "ping"},
        {"type": "barge_in"},
        {"type": "stop_speaking"},
        {"type": "audio_chunk", "data": base64.b64encode(bytes(640)).decode()},
    ]
)
text_frames = st.one_of(
    json_values.map(json.dumps), near_valid.map(json.dumps), valid.map(json.dumps), st.text(max_size=50)
)
binary_frames = st.binary(max_size=2000)
frames = st.lists(st.one_of(text_frames, binary_frames), min_size=1, max_size=8)


def is_bad(frame: str | bytes) -> bool:
    if isinstance(frame, bytes):
        return len(frame) % 2 == 1
    try:
        message = client_decoder.decode(frame)
    except msgspec.DecodeError:
        return True
    if message.__struct_config__.tag == "audio_chunk":
        try:
            return len(base64.b64decode(message.data, validate=True)) % 2 == 1
        except ValueError:
            return True
    return False


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with running_stack(FULL_STACK, {"VOICECHAT_LOCAL_CX_SCRIPTED": "1"}) as running:
        wait_http(running.gateway.base_url + "/readyz")
        yield running
    print(f"\nfuzzing: {TRIED['inputs']} inputs tried, {TRIED['bad']} of them bad")


def is_end(frame: str | bytes) -> bool:
    return isinstance(frame, str) and not is_bad(frame) and json.loads(frame).get("type") == "end_session"


def until_end(inputs: list[str | bytes]) -> list[str | bytes]:
    """What the gateway reads: everything up to a valid `end_session`, which closes the session."""
    ends = [index for index, frame in enumerate(inputs) if is_end(frame)]
    return inputs[: ends[0] + 1] if ends else inputs


async def exchange(base: str, inputs: list[str | bytes]) -> list[dict[str, Any]]:
    """Send the frames; wait until the gateway answered all of them; return the errors it sent."""
    async with aiohttp.ClientSession() as http:
        client = await connect(http, base)
        for frame in inputs:
            if isinstance(frame, bytes):
                await client.ws.send_bytes(frame)
            else:
                await client.ws.send_str(frame)
        if is_end(inputs[-1]):
            await asyncio.wait_for(client._reader, 10)  # the server answers, then closes with 1000
            assert client.ws.close_code == 1000
        else:
            pongs = sum(1 for f in inputs if isinstance(f, str) and not is_bad(f) and json.loads(f) == {"type": "ping"})
            await client.send({"type": "ping"})
            await client.wait_for(lambda e: len(client.of_type("pong")) > pongs, timeout=10)
            await client.close()
        return client.of_type("error")


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(inputs=frames)
def test_random_inputs_get_errors_and_break_nothing(stack: Stack, inputs: list[str | bytes]) -> None:
    inputs = until_end(inputs)
    errors = asyncio.run(exchange(stack.gateway.base_url, inputs))
    bad = sum(is_bad(frame) for frame in inputs)
    TRIED["inputs"] += len(inputs)
    TRIED["bad"] += bad
    input_errors = [e for e in errors if e["code"] in ("invalid_message", "unsupported_audio")]
    assert len(input_errors) == bad, (inputs, errors)
    assert all(e["code"] in CODES and e["message"] for e in errors)


async def test_after_fuzzing_everything_is_alive_and_a_clean_session_works(stack: Stack) -> None:
    assert TRIED["inputs"] > 0
    assert all(s.proc is not None and s.proc.poll() is None for s in stack.services)
    async with aiohttp.ClientSession() as http:
        client = await connect(http, stack.gateway.base_url)
        await client.send({"type": "text_input", "text": "show me shoes"})
        await client.wait_for("audio_end", timeout=20)
        assert client.of_type("error") == []
        await client.close()
