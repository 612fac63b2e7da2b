"""`X-Twilio-Signature`: the gateway's own HMAC-SHA1 agrees with Twilio's helper library (dev dependency only)."""

from hypothesis import given
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from gateway.twilio.signature import is_valid, public_url, signature

TOKEN = "12345678901234567890123456789012"
VOICE_URL = "https://voice.example.com/twilio/voice"
PARAMS = {"CallSid": "CA1234567890ABCDE", "Caller": "+12349013030", "Digits": "1234", "From": "+12349013030"}


def test_signature_is_twilios() -> None:
    expected = RequestValidator(TOKEN).compute_signature(VOICE_URL, PARAMS)
    assert signature(TOKEN, VOICE_URL, PARAMS.items()) == expected
    assert is_valid(TOKEN, VOICE_URL, PARAMS.items(), expected)


@given(st.dictionaries(st.text(min_size=1, max_size=12), st.text(max_size=30), max_size=8))
def test_any_params_sign_like_twilio(params: dict[str, str]) -> None:
    assert signature(TOKEN, VOICE_URL, params.items()) == RequestValidator(TOKEN).compute_signature(VOICE_URL, params)


def test_wrong_token_url_param_or_missing_signature_fail() -> None:
    good = RequestValidator(TOKEN).compute_signature(VOICE_URL, PARAMS)
    assert not is_valid("another-token", VOICE_URL, PARAMS.items(), good)
    assert not is_valid(TOKEN, VOICE_URL + "x", PARAMS.items(), good)
    assert not is_valid(TOKEN, VOICE_URL, {**PARAMS, "From": "+10000000000"}.items(), good)
    assert not is_valid(TOKEN, VOICE_URL, PARAMS.items(), None)
    assert not is_valid(TOKEN, VOICE_URL, PARAMS.items(), "")


def test_port_variants_are_accepted_like_twilios_validator() -> None:
    with_port = RequestValidator(TOKEN).compute_signature("https://voice.example.com:443/twilio/voice", PARAMS)
    assert is_valid(TOKEN, VOICE_URL, PARAMS.items(), with_port)


def test_stream_url_is_signed_as_wss_without_params() -> None:
    url = public_url("https://voice.example.com/", "/ws/twilio", websocket=True)
    assert url == "wss://voice.example.com/ws/twilio"
    assert public_url("http://127.0.0.1:8080", "/ws/twilio", websocket=True) == "ws://127.0.0.1:8080/ws/twilio"
    assert is_valid(TOKEN, url, (), RequestValidator(TOKEN).compute_signature(url, {}))
