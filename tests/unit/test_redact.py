"""Credentials in URLs never reach a log line or an error message (shared/redact.py, used by shared/runtime.py;
the whole-stack check is tests/hardening/test_no_secrets_in_logs.py)."""

import pytest

from shared.redact import redact_urls


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        ("nats://gw:s3cret@nats:4222", "nats://***@nats:4222"),
        ("nats://a:x@n1:4222, nats://b:y@n2:4222", "nats://***@n1:4222, nats://***@n2:4222"),
        ("tls://token@n1:4222,nats://n2:4222", "tls://***@n1:4222,nats://n2:4222"),
        ("cannot reach https://u:p@api.example/path?q=1", "cannot reach https://***@api.example/path?q=1"),
        ("nats://nats:4222 and mail@example.com", "nats://nats:4222 and mail@example.com"),
    ],
)
def test_user_info_of_every_url_is_redacted(text: str, redacted: str) -> None:
    assert redact_urls(text) == redacted
