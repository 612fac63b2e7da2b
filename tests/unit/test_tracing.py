"""Tracing (shared/tracing.py): nothing at all without an endpoint; with one, spans reach a real OTLP/HTTP
receiver and a trace continues across a NATS message through its `traceparent` header."""

import socket
import subprocess
import sys

import pytest
import structlog
from nats.aio.client import Client as NATS

from harness.otlp import OtlpReceiver
from harness.procs import ROOT
from shared import tracing

OFF = """
import sys
from shared import tracing
assert tracing.setup("probe") is False
assert tracing.start("turn") is None and tracing.headers(None) is None
assert tracing.extract({"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"}) is None
tracing.record("x", None, 0)
assert not [name for name in sys.modules if name.startswith("opentelemetry.sdk")], "the SDK was imported"
print("off")
"""


def test_without_an_endpoint_no_sdk_is_loaded_and_no_span_is_made() -> None:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", OFF], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "off"


async def test_a_trace_crosses_a_nats_message(monkeypatch: pytest.MonkeyPatch, nc: NATS) -> None:
    with OtlpReceiver() as receiver:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
        assert tracing.setup("unit-test")
        try:
            received = []

            async def handler(msg: object) -> None:
                parent = tracing.extract(getattr(msg, "headers", None))
                received.append(parent)
                tracing.record("consumer", parent, tracing.now_ns(), kind="child")

            sub = await nc.subscribe("trace.test", cb=handler)
            root = tracing.start("producer", None, tracing.now_ns())
            await nc.publish("trace.test", b"x", headers=tracing.headers(root))
            await nc.flush()
            for _ in range(100):
                if received:
                    break
                await nc.flush()
            assert received
            tracing.end(root, error="it failed")
            await sub.unsubscribe()
        finally:
            tracing.shutdown()
        spans = receiver.wait_for(lambda found: len(found) >= 2)
    by_name = {span.name: span for span in spans}
    producer, consumer = by_name["producer"], by_name["consumer"]
    assert producer.service == consumer.service == "unit-test"
    assert consumer.trace_id == producer.trace_id
    assert consumer.parent_span_id == producer.span_id and producer.parent_span_id == ""
    assert producer.error and not consumer.error
    assert consumer.attributes == {"kind": "child"}
    assert not tracing.enabled()


def test_stopping_does_not_wait_on_an_export_that_hangs(monkeypatch: pytest.MonkeyPatch) -> None:
    """A collector that accepts the connection and never answers: the service's last export hangs, and the stop
    returns after `within_s` with a warning instead of the SDK's 30 s (past a worker pod's grace)."""
    with socket.create_server(("127.0.0.1", 0)) as silent, structlog.testing.capture_logs() as logs:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{silent.getsockname()[1]}")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "30")
        assert tracing.setup("unit-test")
        tracing.end(tracing.start("turn"))
        tracing.shutdown(within_s=0.5)
        assert [entry["event"] for entry in logs] == ["tracing_shutdown_timed_out"]
