"""Signing as Twilio does (its own helper library, a test dependency only) and a dialled fake call."""

import aiohttp
from twilio.request_validator import RequestValidator

from harness.fake_twilio import FakeTwilioCall

TOKEN = "test-auth-token-0123456789abcdef"
PUBLIC = "https://voice.example.com"
SIGNED_ENV = {"VOICECHAT_TWILIO_AUTH_TOKEN": TOKEN, "VOICECHAT_PUBLIC_URL": PUBLIC}


def stream_signature(token: str = TOKEN) -> dict[str, str]:
    """The header Twilio sends on the stream's upgrade: its signature of the public `wss://` URL."""
    return {
        "X-Twilio-Signature": RequestValidator(token).compute_signature(
            PUBLIC.replace("https", "wss") + "/ws/twilio", {}
        )
    }


def stream_url(base_url: str) -> str:
    return base_url.replace("http://", "ws://") + "/ws/twilio"


async def dial(http: aiohttp.ClientSession, base_url: str, signed: bool = False) -> FakeTwilioCall:
    headers = stream_signature() if signed else {}
    return await FakeTwilioCall.dial(http, stream_url(base_url), {"caller": "0123abcd", "language": "en-US"}, headers)
