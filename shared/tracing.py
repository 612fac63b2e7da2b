"""OpenTelemetry traces of turns across services (docs/observability.md), off unless an OTLP endpoint is set.

`setup(service)` installs an SDK tracer exporting over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set; the exporter reads the standard `OTEL_*` variables itself. Otherwise
nothing is built: the SDK is never imported, `start` returns None and every helper takes None, so an untraced
service pays one attribute test per call site. Trace context crosses NATS as a W3C `traceparent` message header.
"""

import contextlib
import contextvars
import os
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

from opentelemetry.context import Context
from opentelemetry.trace import Span, StatusCode, Tracer, set_span_in_context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from shared.logs import get_logger

log = get_logger(__name__)

SHUTDOWN_S = 2.0  # how long a stopping service waits for its last spans to be exported
ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
TRACEPARENT = "traceparent"

Parent = Span | Context | None

_state: dict[str, Any] = {"tracer": None, "provider": None}
_propagator = TraceContextTextMapPropagator()
_incoming: contextvars.ContextVar[Context | None] = contextvars.ContextVar("incoming_trace", default=None)


def setup(service: str) -> bool:
    """Install the exporting tracer of `service` when an endpoint is configured; True if tracing is on."""
    if not any(os.environ.get(name) for name in ENDPOINT_VARIABLES):
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    _state["provider"], _state["tracer"] = provider, provider.get_tracer("voicechat")
    return True


def shutdown(within_s: float = SHUTDOWN_S) -> None:
    """Export what is buffered and stop, for `within_s` at most (the SDK's batch processor waits up to 30 s on an
    export that hangs, past a worker pod's grace); what is not exported by then is dropped, with a warning. A no-op
    when tracing is off."""
    provider = _state["provider"]
    _state["provider"] = _state["tracer"] = None
    if provider is None:
        return
    stopping = threading.Thread(target=provider.shutdown, name="tracing-shutdown", daemon=True)
    stopping.start()
    stopping.join(within_s)
    if stopping.is_alive():
        log.warning("tracing_shutdown_timed_out", within_s=within_s)


def enabled() -> bool:
    return _state["tracer"] is not None


def now_ns() -> int:
    """Span timestamps are wall-clock nanoseconds (OTLP); take them with this when a span starts in the past."""
    return time.time_ns()


def start(name: str, parent: Parent = None, start_ns: int | None = None, **attributes: Any) -> Span | None:
    """A started span (None when tracing is off); a root span of a new trace when `parent` is None."""
    tracer: Tracer | None = _state["tracer"]
    if tracer is None:
        return None
    context = set_span_in_context(parent) if isinstance(parent, Span) else parent
    return tracer.start_span(name, context=context, start_time=start_ns, attributes=attributes or None)


def end(span: Span | None, end_ns: int | None = None, error: str | None = None, **attributes: Any) -> None:
    """End `span` (if any), marking it failed with `error`, after setting `attributes`."""
    if span is None:
        return
    if attributes:
        span.set_attributes(attributes)
    if error is not None:
        span.set_status(StatusCode.ERROR, error)
    span.end(end_time=end_ns)


def record(name: str, parent: Parent, start_ns: int, end_ns: int | None = None, **attributes: Any) -> None:
    """A span of something already over (or ending now), timed by the caller."""
    if _state["tracer"] is not None:
        end(start(name, parent, start_ns, **attributes), end_ns)


def headers(parent: Parent, into: dict[str, str] | None = None) -> dict[str, str] | None:
    """NATS message headers carrying `parent` as a W3C `traceparent` (None when there is nothing to carry)."""
    if parent is None or _state["tracer"] is None:
        return into
    carrier: dict[str, str] = {} if into is None else into
    _propagator.inject(carrier, context=set_span_in_context(parent) if isinstance(parent, Span) else parent)
    return carrier


def extract(message_headers: Mapping[str, str] | None) -> Context | None:
    """The trace context a NATS message carries, or None (no header, or tracing off here)."""
    if not message_headers or _state["tracer"] is None or TRACEPARENT not in message_headers:
        return None
    return _propagator.extract(message_headers)


@contextlib.contextmanager
def receiving(message_headers: Mapping[str, str] | None) -> Iterator[None]:
    """While a handler runs for a NATS message, `incoming()` is the trace context the message carried."""
    if _state["tracer"] is None:
        yield
        return
    token = _incoming.set(extract(message_headers))
    try:
        yield
    finally:
        _incoming.reset(token)


def incoming() -> Context | None:
    """The trace context of the message being handled (see `receiving`), or None."""
    return _incoming.get()
