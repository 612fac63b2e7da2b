"""Phone edge security and bad input (docs/telephony.md): signatures checked before any upgrade; every bad
message is dropped or closes its own call clearly; nothing reaches another call; the gateway keeps serving."""

import asyncio
import base64
import json
import re
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest
from twilio.request_validator import RequestValidator

from harness.fake_twilio import FakeTwilioCall
from harness.procs import wait_http
from harness.stack import FULL_STACK, Stack, running_stack
from tests.integration.conftest import SPEECH_STACK
from tests.support.twilio import PUBLIC, SIGNED_ENV, TOKEN, dial, stream_signature, stream_url

VOICE_FORM = {"CallSid": "CA0123456789abcdef0123456789abcdef", "From": "+14155550123", "To": "+14155550000"}


@pytest.fixture(scope="module")
def signed_stack() -> Iterator[Stack]:
    with running_stack(FULL_STACK, SIGNED_ENV) as stack:
        wait_http(stack.gateway.base_url + "/readyz")
        yield stack


@pytest.fixture
async def bystander(signed_stack: Stack, http: aiohttp.ClientSession) -> AsyncIterator[FakeTwilioCall]:
    """Another call on the same gateway during the bad one: it must hear nothing and stay up."""
    call = await dial(http, signed_stack.gateway.base_url, signed=True)
    yield call
    assert [r.message for r in call.received] == [] and not call.ws.closed
    await call.hang_up()


async def metric(http: aiohttp.ClientSession, stack: Stack, name: str) -> float:
    async with http.get(stack.gateway.base_url + "/metrics") as response:
        text = await response.text()
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


async def settled(http: aiohttp.ClientSession, stack: Stack, name: str, value: float) -> float:
    """The metric's value once it reaches `value` (the gateway counts a call just after closing its socket), or
    its last value after 5 s."""
    found = await metric(http, stack, name)
    for _ in range(100):
        if found == value:
            break
        await asyncio.sleep(0.05)
        found = await metric(http, stack, name)
    return found


async def answered(call: FakeTwilioCall, digit: str = "2") -> None:
    """The call still works: a keypad request gets its spoken answer."""
    await call.press(f"{digit}#")
    mark = await call.wait_for("mark", within=30)
    assert mark.message["mark"]["name"] == "answer-1" and call.media_received()


# signatures


async def post_voice(http: aiohttp.ClientSession, stack: Stack, headers: dict[str, str]) -> aiohttp.ClientResponse:
    async with http.post(stack.gateway.base_url + "/twilio/voice", data=VOICE_FORM, headers=headers) as response:
        await response.read()
        return response


async def test_webhook_with_twilios_signature_gets_twiml(signed_stack: Stack, http: aiohttp.ClientSession) -> None:
    signature = RequestValidator(TOKEN).compute_signature(PUBLIC + "/twilio/voice", VOICE_FORM)
    async with http.post(
        signed_stack.gateway.base_url + "/twilio/voice", data=VOICE_FORM, headers={"X-Twilio-Signature": signature}
    ) as response:
        assert response.status == 200 and response.content_type == "text/xml"
        twiml = await response.text()
    assert '<Connect><Stream url="wss://voice.example.com/ws/twilio">' in twiml
    assert '<Parameter name="language" value="en-US" />' in twiml
    assert re.search(r'<Parameter name="caller" value="[0-9a-f]{16}" />', twiml)
    assert "4155550123" not in twiml


@pytest.mark.parametrize("signature", [None, "", "bm90IGEgc2lnbmF0dXJl", "wrong-token", "tampered"])
async def test_webhook_without_a_valid_signature_is_403(
    signed_stack: Stack, http: aiohttp.ClientSession, signature: str | None
) -> None:
    if signature == "wrong-token":
        signature = RequestValidator("another-token").compute_signature(PUBLIC + "/twilio/voice", VOICE_FORM)
    elif signature == "tampered":
        signature = RequestValidator(TOKEN).compute_signature(PUBLIC + "/twilio/voice", {**VOICE_FORM, "From": "+1"})
    headers = {} if signature is None else {"X-Twilio-Signature": signature}
    assert (await post_voice(http, signed_stack, headers)).status == 403


@pytest.mark.parametrize("headers", [{}, stream_signature("another-token"), {"X-Twilio-Signature": "x"}])
async def test_stream_without_a_valid_signature_is_403_before_the_upgrade(
    signed_stack: Stack, http: aiohttp.ClientSession, headers: dict[str, str]
) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(stream_url(signed_stack.gateway.base_url), headers=headers)
    assert refused.value.status == 403


# bad input


async def raw_stream(http: aiohttp.ClientSession, stack: Stack) -> aiohttp.ClientWebSocketResponse:
    return await http.ws_connect(stream_url(stack.gateway.base_url), headers=stream_signature())


async def closed_with(ws: aiohttp.ClientWebSocketResponse) -> int | None:
    async for _ in ws:
        pass
    return ws.close_code


@pytest.mark.usefixtures("bystander")
async def test_invalid_json_is_dropped_and_the_call_goes_on(signed_stack: Stack, http: aiohttp.ClientSession) -> None:
    call = await dial(http, signed_stack.gateway.base_url, signed=True)
    errors = await metric(http, signed_stack, 'voicechat_errors_total{code="invalid_message",service="gateway"}')
    for raw in ("{not json", "[]", '{"event": "teleport", "streamSid": "MZ1"}', '{"event": "media"}'):
        await call.ws.send_str(raw)
    await answered(call)
    after = await metric(http, signed_stack, 'voicechat_errors_total{code="invalid_message",service="gateway"}')
    assert after - errors >= 4
    await call.hang_up()


@pytest.mark.usefixtures("bystander")
async def test_non_base64_payload_is_dropped_and_the_call_goes_on(
    signed_stack: Stack, http: aiohttp.ClientSession
) -> None:
    call = await dial(http, signed_stack.gateway.base_url, signed=True)
    bad = call.media_message(b"")
    bad["media"]["payload"] = "%%% not base64 %%%"
    await call.send(bad)
    await answered(call, "4")
    await call.hang_up()


@pytest.mark.usefixtures("bystander")
async def test_media_before_start_closes_the_stream(signed_stack: Stack, http: aiohttp.ClientSession) -> None:
    ws = await raw_stream(http, signed_stack)
    await ws.send_str(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
    media = {"track": "inbound", "chunk": "1", "timestamp": "0", "payload": base64.b64encode(bytes(160)).decode()}
    await ws.send_str(json.dumps({"event": "media", "sequenceNumber": "1", "media": media, "streamSid": "MZ1"}))
    assert await closed_with(ws) == 1008


@pytest.mark.usefixtures("bystander")
@pytest.mark.parametrize(
    "media_format",
    [
        {"encoding": "audio/x-alaw", "sampleRate": 8000, "channels": 1},
        {"encoding": "audio/x-mulaw", "sampleRate": 16000, "channels": 1},
        {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 2},
    ],
)
async def test_unsupported_media_format_closes_the_stream(
    signed_stack: Stack, http: aiohttp.ClientSession, media_format: dict[str, object]
) -> None:
    call = await FakeTwilioCall.dial(
        http, stream_url(signed_stack.gateway.base_url), headers=stream_signature(), media_format=media_format
    )
    assert await call.wait_closed(within=10) == 1003
    await call.hang_up()


@pytest.mark.usefixtures("bystander")
async def test_oversized_message_closes_with_1009(signed_stack: Stack, http: aiohttp.ClientSession) -> None:
    call = await dial(http, signed_stack.gateway.base_url, signed=True)
    huge = call.media_message(bytes(60 * 1024))  # base64 makes it over the 64 KiB message limit
    await call.send(huge)
    assert await call.wait_closed(within=10) == 1009
    await call.hang_up()


async def test_a_call_that_never_sends_stop_ends_its_session(signed_stack: Stack, http: aiohttp.ClientSession) -> None:
    hangups = await metric(http, signed_stack, 'voicechat_phone_calls_total{outcome="hangup"}')
    call = await dial(http, signed_stack.gateway.base_url, signed=True)
    await answered(call, "5")
    assert await metric(http, signed_stack, "voicechat_phone_calls_active") == 1
    await call.hang_up(send_stop=False)
    assert await settled(http, signed_stack, "voicechat_phone_calls_active", 0) == 0
    hangup = 'voicechat_phone_calls_total{outcome="hangup"}'
    assert await settled(http, signed_stack, hangup, hangups + 1) == hangups + 1
    again = await dial(http, signed_stack.gateway.base_url, signed=True)
    await answered(again, "6")
    await again.hang_up()


async def test_a_silent_caller_is_hung_up_after_the_idle_limit(http: aiohttp.ClientSession) -> None:
    """The line keeps sending (silence): the limit counts speech, keys and bot audio, not messages."""
    with running_stack(SPEECH_STACK, {"VOICECHAT_IDLE_TIMEOUT_S": "2"}) as stack:
        wait_http(stack.gateway.base_url + "/readyz")
        call = await dial(http, stack.gateway.base_url)
        assert await call.wait_closed(within=15) == 1000
        assert call.mic_sent >= 90  # it kept sending media the whole time
        assert await settled(http, stack, 'voicechat_phone_calls_total{outcome="idle"}', 1) == 1
        await call.hang_up()


async def test_no_number_sid_or_token_in_the_logs(signed_stack: Stack, http: aiohttp.ClientSession) -> None:
    """The gateway logs at INFO: the caller's number, the call's SID and the auth token appear nowhere."""
    signature = RequestValidator(TOKEN).compute_signature(PUBLIC + "/twilio/voice", VOICE_FORM)
    assert (await post_voice(http, signed_stack, {"X-Twilio-Signature": signature})).status == 200
    call = await dial(http, signed_stack.gateway.base_url, signed=True)
    await answered(call, "8")
    await call.hang_up()
    await settled(http, signed_stack, "voicechat_phone_calls_active", 0)
    log = signed_stack.gateway.log_path.read_text()
    assert '"call_started"' in log and '"call_ref"' in log
    for secret in (VOICE_FORM["From"], VOICE_FORM["From"][2:], VOICE_FORM["CallSid"], call.call_sid, TOKEN):
        assert secret not in log
