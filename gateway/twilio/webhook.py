"""`POST /twilio/voice` (the incoming-call webhook answering with TwiML) and the signature check both Twilio
endpoints run before anything else (docs/telephony.md)."""

from collections.abc import Awaitable, Callable, Iterable

from aiohttp import web

from gateway.auth import refuse
from gateway.twilio.signature import SIGNATURE_HEADER, is_valid, public_url
from gateway.twilio.twiml import CALLER_PARAM, LANGUAGE_PARAM, caller_digest, connect_stream
from shared.settings import GatewaySettings

VOICE_PATH = "/twilio/voice"
STREAM_PATH = "/ws/twilio"


def check_signature(
    request: web.Request, settings: GatewaySettings, path: str, params: Iterable[tuple[str, str]] = ()
) -> None:
    """403 unless the request carries Twilio's signature of the public URL (no-op without an auth token)."""
    token, base = settings.twilio_auth_token, settings.public_url
    if token is None or base is None:
        return
    url = public_url(base, path, websocket=path == STREAM_PATH)
    if not is_valid(token, url, params, request.headers.get(SIGNATURE_HEADER)):
        raise refuse(web.HTTPForbidden, "twilio_signature", "missing or invalid X-Twilio-Signature")


def stream_url(request: web.Request, settings: GatewaySettings) -> str:
    if settings.public_url is not None:
        return public_url(settings.public_url, STREAM_PATH, websocket=True)
    return f"{'wss' if request.secure else 'ws'}://{request.host}{STREAM_PATH}"


def voice_webhook(settings: GatewaySettings, fallback_key: bytes) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The handler; the caller digest is keyed with the auth token, else with `fallback_key` (the resume key)."""
    key = settings.twilio_auth_token.encode() if settings.twilio_auth_token else fallback_key

    async def handle(request: web.Request) -> web.Response:
        form = await request.post()
        params = [(name, value) for name, value in form.items() if isinstance(value, str)]
        check_signature(request, settings, VOICE_PATH, params)
        caller = str(form.get("From") or form.get("Caller") or "")
        parameters = {
            CALLER_PARAM: caller_digest(key, caller),
            LANGUAGE_PARAM: settings.phone_language,
        }
        return web.Response(text=connect_stream(stream_url(request, settings), parameters), content_type="text/xml")

    return handle
