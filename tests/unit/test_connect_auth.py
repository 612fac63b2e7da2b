"""Connect-time credentials (gateway/auth.py): subprotocols, header or (legacy) query; JWT checks with a reason
code for each failure, never the token in the refusal; who the shopper is."""

import json
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict

from gateway.auth import Credentials, authenticate, read_credentials, shopper_of
from shared.settings import GatewaySettings

SECRET = "unit-test-secret-" + "0123456789abcdef" * 4
AUTH = GatewaySettings(auth_secret=SECRET)


def token(secret: str = SECRET, algorithm: str = "HS256", **claims: Any) -> str:
    base = {"sub": "shopper-1", "exp": int(time.time()) + 300}
    return jwt.encode({k: v for k, v in {**base, **claims}.items() if v is not None}, secret, algorithm=algorithm)


def request(path: str = "/ws/voice-chat", headers: dict[str, str] | None = None, remote: str = "10.0.0.9") -> Any:
    return make_mocked_request("GET", path, headers=CIMultiDict(headers or {}), transport=_Transport(remote))


class _Transport:
    def __init__(self, remote: str) -> None:
        self.remote = remote

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return (self.remote, 40000) if name == "peername" else default


def refusal(call: Any) -> tuple[int, str]:
    with pytest.raises(web.HTTPError) as refused:
        call()
    return refused.value.status, json.loads(refused.value.text or "{}")["error"]


def test_credentials_ride_in_subprotocols_next_to_voicechat_v1() -> None:
    jwt_, resume = token(), "cGF5bG9hZA.bWFj"
    offered = {"Sec-WebSocket-Protocol": f"voicechat.v1, bearer.{jwt_}, resume.{resume}"}
    assert read_credentials(request(headers=offered), AUTH) == Credentials(bearer=jwt_, resume=resume)
    header = {"Authorization": f"Bearer {jwt_}"}
    assert read_credentials(request(headers=header), AUTH) == Credentials(bearer=jwt_)


def test_credentials_without_voicechat_v1_or_twice_are_400() -> None:
    alone = request(headers={"Sec-WebSocket-Protocol": f"bearer.{token()}"})
    assert refusal(lambda: read_credentials(alone, AUTH)) == (400, "subprotocol_required")
    both = {"Sec-WebSocket-Protocol": "voicechat.v1, bearer.a", "Authorization": "Bearer b"}
    assert refusal(lambda: read_credentials(request(headers=both), AUTH)) == (400, "credential_conflict")


@pytest.mark.parametrize("query", ["token=abc", "resume_token=abc", "session_id=" + "a" * 32])
def test_credentials_in_the_query_are_401_unless_the_legacy_setting_allows_them(query: str) -> None:
    assert refusal(lambda: read_credentials(request(f"/ws/voice-chat?{query}"), AUTH)) == (401, "credentials_in_query")
    legacy = GatewaySettings(auth_secret=SECRET, allow_query_credentials=True)
    read_credentials(request(f"/ws/voice-chat?{query}"), legacy)


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: None, "token_missing"),
        (lambda: token(exp=int(time.time()) - 60), "token_expired"),
        (lambda: token(exp=None), "token_claim_missing"),
        (lambda: token(sub=None), "token_claim_missing"),
        (lambda: token(sub=""), "token_subject"),
        (lambda: token(nbf=int(time.time()) + 60), "token_not_yet_valid"),
        (lambda: token(secret="another-" + "0123456789abcdef" * 4), "token_signature"),
        (lambda: token(algorithm="HS512"), "token_algorithm"),
        (lambda: jwt.encode({"sub": "x", "exp": int(time.time()) + 60}, "", algorithm="none"), "token_algorithm"),
        (lambda: "not.a.jwt", "token_invalid"),
        (lambda: "é", "token_invalid"),
    ],
)
def test_bad_jwts_are_401_with_a_reason_and_never_echoed(make: Callable[[], str | None], reason: str) -> None:
    bad = make()  # built when the test runs: times are relative to now
    with pytest.raises(web.HTTPUnauthorized) as refused:
        authenticate(bad, AUTH)
    assert json.loads(refused.value.text or "")["error"] == reason
    assert bad is None or bad not in (refused.value.text or "")


def test_nbf_and_exp_have_a_small_leeway() -> None:
    assert authenticate(token(nbf=int(time.time()) + 5), AUTH) == "shopper-1"
    assert authenticate(token(exp=int(time.time()) - 5), AUTH) == "shopper-1"


def test_audience_and_issuer_are_checked_when_configured() -> None:
    strict = GatewaySettings(auth_secret=SECRET, auth_audience="voicechat", auth_issuer="https://shop.example")
    assert authenticate(token(aud="voicechat", iss="https://shop.example"), strict) == "shopper-1"
    for claims, reason in (
        ({"aud": "other", "iss": "https://shop.example"}, "token_audience"),
        ({"aud": "voicechat", "iss": "https://evil.example"}, "token_issuer"),
        ({"iss": "https://shop.example"}, "token_claim_missing"),
        ({"aud": "voicechat"}, "token_claim_missing"),
    ):
        assert refusal(lambda c=claims: authenticate(token(**c), strict)) == (401, reason)
    assert authenticate(token(aud="anything"), AUTH) == "shopper-1"  # not configured: not checked


def test_auth_off_needs_no_token() -> None:
    assert authenticate(None, GatewaySettings()) is None


def test_the_shopper_is_the_subject_else_the_address_from_the_trusted_proxy_header() -> None:
    assert shopper_of(request(), AUTH, "shopper-1") == "sub:shopper-1"
    assert shopper_of(request(), GatewaySettings(), None) == "ip:10.0.0.9"
    proxied = request(headers={"X-Forwarded-For": "1.2.3.4, 203.0.113.7"})
    assert shopper_of(proxied, GatewaySettings(), None) == "ip:10.0.0.9"  # not trusted unless configured
    trusted = GatewaySettings(client_ip_header="X-Forwarded-For")
    assert shopper_of(proxied, trusted, None) == "ip:203.0.113.7"  # the entry the proxy added
    assert shopper_of(request(), trusted, None) == "ip:10.0.0.9"
