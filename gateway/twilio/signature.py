"""`X-Twilio-Signature` validation, computed as Twilio computes it (docs/telephony.md, "Security").

The signed string is the full public URL Twilio requested followed by every POST parameter, sorted by name, as
`name` + `value` (repeated names: each value, sorted); the signature is base64(HMAC-SHA1(auth token, string)).
For the WebSocket upgrade Twilio signs the `wss://` URL of the stream with no parameters. Like Twilio's own
validator, the URL is tried with and without the scheme's default port, because Twilio's back end is not
consistent about it. Compared in constant time.
"""

import base64
import hashlib
import hmac
from collections.abc import Iterable
from urllib.parse import urlsplit

SIGNATURE_HEADER = "X-Twilio-Signature"
_DEFAULT_PORTS = {"https": 443, "wss": 443, "http": 80, "ws": 80}


def signature(token: str, url: str, params: Iterable[tuple[str, str]] = ()) -> str:
    signed = url + "".join(name + value for name, value in sorted(set(params)))
    return base64.b64encode(hmac.new(token.encode(), signed.encode(), hashlib.sha1).digest()).decode()


def _url_variants(url: str) -> set[str]:
    """The URL as given, with its default port and without any port."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or _DEFAULT_PORTS.get(parts.scheme, 80)
    auth = parts.netloc.rpartition("@")[0]
    prefix = f"{auth}@" if auth else ""
    with_port = parts._replace(netloc=f"{prefix}{host}:{port}").geturl()
    without_port = parts._replace(netloc=f"{prefix}{host}").geturl()
    return {url, with_port, without_port}


def is_valid(token: str, url: str, params: Iterable[tuple[str, str]], given: str | None) -> bool:
    if not given:
        return False
    items = list(params)
    expected = [signature(token, variant, items) for variant in _url_variants(url)]
    return any(hmac.compare_digest(candidate.encode(), given.encode()) for candidate in expected)


def public_url(base: str, path: str, websocket: bool = False) -> str:
    """`path` under the public base URL (`VOICECHAT_PUBLIC_URL`), as `wss://`/`ws://` for the stream."""
    url = base.rstrip("/") + path
    if websocket:
        url = "wss" + url[5:] if url.startswith("https") else "ws" + url[4:]
    return url
