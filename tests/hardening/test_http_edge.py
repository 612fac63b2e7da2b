"""Bad input at the HTTP edge of a real gateway: hypothesis-generated query strings, headers, subprotocol lists
and paths, sent as raw HTTP. Never a 500 or a traceback; each connect gets the status docs/protocol.md documents
("Connecting"), and a 101 selects `voicechat.v1` and nothing else."""

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import quote

import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.procs import wait_http
from harness.stack import Stack, running_stack

SECRET = "edge-test-secret-0123456789abcdef0123456789"
ORIGIN = "https://shop.example"
ENV = {"VOICECHAT_AUTH_SECRET": SECRET, "VOICECHAT_ALLOWED_ORIGINS": ORIGIN}
VALID_JWT = jwt.encode({"sub": "edge", "exp": int(time.time()) + 3600}, SECRET, algorithm="HS256")
SAMPLE_RATES = {"8000", "16000", "32000", "44100", "48000"}
REASONS = {
    400: {"subprotocol_required", "credential_conflict", "sample_rate", "language"},
    401: {"credentials_in_query", "token_missing", "token_expired", "token_not_yet_valid", "token_audience"}
    | {"token_issuer", "token_claim_missing", "token_algorithm", "token_signature", "token_invalid", "token_subject"},
    403: {"origin_not_allowed"},
}


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with running_stack(("gateway",), ENV) as running:
        wait_http(running.gateway.base_url + "/healthz")
        yield running


@dataclass
class Connect:
    query: list[tuple[str, str]] = field(default_factory=list)
    protocols: list[str] | None = None
    authorization: str | None = None
    origin: str | None = None

    def target(self) -> str:
        pairs = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in self.query)
        return "/ws/voice-chat" + (f"?{pairs}" if pairs else "")

    def headers(self) -> dict[str, str]:
        headers = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13"}
        headers["Sec-WebSocket-Key"] = "dGhlIHNhbXBsZSBub25jZQ=="
        if self.protocols is not None:
            headers["Sec-WebSocket-Protocol"] = ", ".join(self.protocols)
        if self.authorization is not None:
            headers["Authorization"] = self.authorization
        if self.origin is not None:
            headers["Origin"] = self.origin
        return headers

    def expected(self) -> int:
        """The documented order: origin, where credentials come from, the JWT, then the parameters."""
        keys = [k for k, _ in self.query]
        offered = [p.strip() for p in self.protocols or [] if p.strip()]
        if self.origin is not None and self.origin != ORIGIN:
            return 403
        if offered and "voicechat.v1" not in offered:
            return 400
        if {"token", "resume_token", "session_id"} & set(keys):
            return 401
        bearers = {p[7:] for p in offered if p.startswith("bearer.")}
        if self.authorization is not None and self.authorization[:7].lower() == "bearer ":
            bearers.add(self.authorization[7:].strip())
        resumes = {p[7:] for p in offered if p.startswith("resume.")}
        if len(bearers) > 1 or len(resumes) > 1:
            return 400
        if bearers != {VALID_JWT}:
            return 401
        language = next((v for k, v in self.query if k == "language"), "en-US")
        rate = next((v for k, v in self.query if k == "sample_rate"), "16000")
        return 400 if rate not in SAMPLE_RATES or not _is_language(language) else 101


def _is_language(tag: str) -> bool:
    parts = tag.split("-")
    if not 1 <= len(parts) <= 3 or not (2 <= len(parts[0]) <= 3 and parts[0].isascii() and parts[0].isalpha()):
        return False
    return all(2 <= len(p) <= 8 and p.isascii() and p.isalnum() for p in parts[1:])


visible = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=40)
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60)
anything = st.text(max_size=30)
values = st.one_of(anything, st.sampled_from(["16000", "48000", "22050", "²", "١٦٠٠٠", "en-US", "en-US\n", "", "0"]))
keys = st.sampled_from(["sample_rate", "language", "token", "resume_token", "session_id", "other"]) | anything
protocol_items = st.one_of(
    st.just("voicechat.v1"),
    st.just(f"bearer.{VALID_JWT}"),
    visible.filter(lambda s: "," not in s).map(lambda s: f"bearer.{s}"),
    visible.filter(lambda s: "," not in s).map(lambda s: f"resume.{s}"),
    visible.filter(lambda s: "," not in s),
)
connects = st.builds(
    Connect,
    query=st.lists(st.tuples(keys, values), max_size=4),
    protocols=st.none() | st.lists(protocol_items, max_size=4),
    authorization=st.none() | st.just(f"Bearer {VALID_JWT}") | header_text | header_text.map(lambda s: f"Bearer {s}"),
    origin=st.none() | st.just(ORIGIN) | header_text,
)


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: str


async def send(port: int, target: str, headers: dict[str, str]) -> Answer:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lines = [f"GET {target} HTTP/1.1", f"Host: 127.0.0.1:{port}", *(f"{k}: {v}" for k, v in headers.items())]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        answer_headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in header_lines if line)}
        status = int(status_line.split(" ")[1])
        length = int(answer_headers.get("content-length", "0"))
        body = b"" if status == 101 else await asyncio.wait_for(reader.readexactly(length), 10)
        return Answer(status, answer_headers, body.decode(errors="replace"))
    finally:
        writer.close()


def check_refusal(answer: Answer) -> None:
    assert answer.status != 500 and "Traceback" not in answer.body
    if answer.status in REASONS:
        assert json.loads(answer.body)["error"] in REASONS[answer.status], answer.body


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(connect=connects)
def test_connects_get_their_documented_status(stack: Stack, connect: Connect) -> None:
    answer = asyncio.run(send(stack.gateway.ops_port, connect.target(), connect.headers()))
    check_refusal(answer)
    assert answer.status == connect.expected(), (connect, answer)
    if answer.status == 101:
        assert answer.headers.get("sec-websocket-protocol", "voicechat.v1") == "voicechat.v1"
        assert ("sec-websocket-protocol" in answer.headers) == bool(connect.protocols)


segments = st.text(max_size=12).map(lambda s: quote(s, safe=""))
paths = st.lists(segments, min_size=1, max_size=4).map(lambda parts: "/" + "/".join(parts)) | st.sampled_from(
    ["/", "/healthz", "/test", "/test/static/app.js", "/test/static/../../etc/passwd", "/ws/voice-chat/", "//"]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=paths, query=st.text(max_size=30).map(lambda s: quote(s, safe="=&")))
def test_any_path_is_answered_without_a_server_error(stack: Stack, path: str, query: str) -> None:
    answer = asyncio.run(send(stack.gateway.ops_port, f"{path}?{query}", {"Connection": "close"}))
    check_refusal(answer)
    assert answer.status in (200, 400, 401, 403, 404, 405), (path, answer)


def test_the_gateway_logged_no_traceback(stack: Stack) -> None:
    wait_http(stack.gateway.base_url + "/healthz")
    output = stack.gateway.output()
    assert "connect_refused" in output
    assert "Traceback" not in output and "Error handling request" not in output
