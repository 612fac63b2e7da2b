"""Resume tokens (gateway/tokens.py): bound to session, subject and epoch, short-lived, keyed for resume only,
and any input at all is refused without raising."""

import base64
import hashlib
import hmac
import json

import jwt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.tokens import Refused, ResumeClaims, ResumeTokens, SessionTokens, resume_key
from shared.settings import GatewaySettings

SID = "0123456789abcdef0123456789abcdef"
NOW = 1_800_000_000.0
KEY, _ = resume_key(GatewaySettings(auth_secret="s" * 40))
TOKENS = ResumeTokens(KEY, 60.0)


def test_a_token_carries_session_subject_epoch_and_expiry() -> None:
    token = SessionTokens(TOKENS, SID, "shopper-1", epoch=7).fresh(NOW)
    claims = TOKENS.verify(token, "shopper-1", NOW + 59)
    assert claims == ResumeClaims(sid=SID, sub="shopper-1", epoch=7, exp=int(NOW + 60))


@pytest.mark.parametrize(
    ("subject", "at", "reason"),
    [("shopper-1", NOW + 60, "expired"), ("shopper-2", NOW, "other_subject"), ("", NOW, "other_subject")],
)
def test_refused_after_expiry_or_for_another_subject(subject: str, at: float, reason: str) -> None:
    token = TOKENS.issue(SID, "shopper-1", 0, NOW)
    assert TOKENS.verify(token, subject, at) == Refused(reason)  # type: ignore[arg-type]


def test_a_changed_payload_or_another_key_is_forged() -> None:
    token = TOKENS.issue(SID, "shopper-1", 0, NOW)
    payload, mac = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["exp"] += 3600
    changed = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert TOKENS.verify(f"{changed}.{mac}", "shopper-1", NOW) == Refused("forged")
    other = ResumeTokens(resume_key(GatewaySettings(auth_secret="t" * 40))[0], 60.0)
    assert other.verify(token, "shopper-1", NOW) == Refused("forged")


def test_the_key_is_derived_for_resume_only_not_the_jwt_key() -> None:
    secret = "s" * 40
    assert secret.encode() != KEY
    assert hmac.new(secret.encode(), b"voicechat resume v1", hashlib.sha256).digest() == KEY
    # a JWT signed with the auth secret is no resume token, and a resume token's MAC is not a JWT signature
    token = jwt.encode({"sid": SID, "sub": "shopper-1", "epoch": 0, "exp": int(NOW + 60)}, secret, algorithm="HS256")
    assert isinstance(TOKENS.verify(token, "shopper-1", NOW), Refused)
    assert resume_key(GatewaySettings(resume_secret="r" * 40, auth_secret=secret))[0] != KEY


def test_without_any_secret_the_key_is_random_per_process() -> None:
    first, shared = resume_key(GatewaySettings())
    assert not shared and first != resume_key(GatewaySettings())[0]


@pytest.mark.parametrize(
    "token", ["", ".", "a.b.c", "é.é", "x" * 5000, "YWJj.YWJj", "YWJj.", "%%%.%%%", "YWJj==.YWJj", "\n", "\x00"]
)
def test_malformed_tokens_are_refused(token: str) -> None:
    assert TOKENS.verify(token, "shopper-1", NOW) in (Refused("malformed"), Refused("forged"))


@given(st.text(max_size=300) | st.binary(max_size=200).map(lambda b: base64.urlsafe_b64encode(b).decode()))
def test_any_input_is_refused_and_never_raises(token: str) -> None:
    assert isinstance(TOKENS.verify(token, "shopper-1", NOW), Refused)


def test_a_well_signed_payload_that_is_no_claims_is_malformed() -> None:
    payload = b'{"sid": "not-a-session", "sub": "", "epoch": 0, "exp": 1}'
    mac = hmac.new(KEY, payload, hashlib.sha256).digest()
    token = ".".join(base64.urlsafe_b64encode(part).rstrip(b"=").decode() for part in (payload, mac))
    assert TOKENS.verify(token, "", 0) == Refused("malformed")
