"""NATS runtime for every service: connect with reconnect, run until SIGTERM/SIGINT, drain, exit cleanly.

The NATS URL may carry a user and password: it is logged and raised only through shared/redact.py.
"""

import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import nats
import uvloop
from nats.aio.client import Client as NATS

from shared import tracing
from shared.logs import configure_logging, get_logger
from shared.publish_batch import PublishBatch
from shared.redact import redact_urls
from shared.settings import CommonSettings, SettingsError, load_settings

log = get_logger(__name__)


LinkHook = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class LinkHooks:
    """What runs when the NATS link drops (before reconnecting) and once it is back (subscriptions replayed and
    what was buffered meanwhile flushed)."""

    disconnected: list[LinkHook] = field(default_factory=list)
    reconnected: list[LinkHook] = field(default_factory=list)


S_co = TypeVar("S_co", bound=CommonSettings, covariant=True)
S = TypeVar("S", bound=CommonSettings)


@dataclass(frozen=True)
class ServiceContext(Generic[S_co]):
    """What a service's body gets: its own settings group, the connection, the stop event, link hooks."""

    name: str
    settings: S_co
    nc: NATS
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    link_hooks: LinkHooks = field(default_factory=LinkHooks)
    batch: PublishBatch | None = None  # publishes of the audio path, sent together (shared/publish_batch.py)

    def publisher(self) -> PublishBatch:
        """The service's batch; one that sends at once when none was set up (a worker built by a test)."""
        return self.batch if self.batch is not None else PublishBatch(self.nc, 0.0)


async def connect(settings: CommonSettings, name: str, attempts: int = 60, hooks: LinkHooks | None = None) -> NATS:
    """Connect, retrying the first connection; once connected, reconnect forever.

    `VOICECHAT_NATS_URL` may list several servers of a cluster, separated by commas. While disconnected, publishes
    are buffered up to `VOICECHAT_NATS_PENDING_BYTES`; past that they raise (every caller survives it). A server
    that stops answering (a stalled node: the TCP connection stays up) is found after three unanswered pings,
    `VOICECHAT_NATS_PING_INTERVAL_S` apart.
    """

    async def on_error(exc: Exception) -> None:
        log.warning("nats_error", error=redact_urls(str(exc)))

    async def on_disconnect() -> None:
        log.warning("nats_disconnected")
        for hook in hooks.disconnected if hooks else ():
            await hook()

    async def on_reconnect() -> None:
        log.info("nats_reconnected")
        for hook in hooks.reconnected if hooks else ():
            await hook()

    last: Exception | None = None
    for _ in range(attempts):
        try:
            return await nats.connect(
                [url.strip() for url in settings.nats_url.split(",") if url.strip()],
                name=name,
                allow_reconnect=True,
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.25,
                connect_timeout=2,
                ping_interval=settings.nats_ping_interval_s,
                max_outstanding_pings=3,
                error_cb=on_error,
                disconnected_cb=on_disconnect,
                reconnected_cb=on_reconnect,
                pending_size=settings.nats_pending_bytes,
            )
        except (TimeoutError, OSError, nats.errors.Error) as exc:
            last = exc
            log.info("nats_connect_retry", error=redact_urls(str(exc)))
            await asyncio.sleep(0.5)
    raise ConnectionError(redact_urls(f"cannot reach NATS at {settings.nats_url}: {last}"))


def install_stop_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)


async def _serve(name: str, settings: S, body: Callable[[ServiceContext[S]], Awaitable[None]]) -> None:
    stop = asyncio.Event()
    install_stop_signals(stop)
    hooks = LinkHooks()
    nc = await connect(settings, name, hooks=hooks)
    batch = PublishBatch(nc, settings.publish_window_ms / 1000, settings.nats_pending_bytes)
    ctx = ServiceContext(name=name, settings=settings, nc=nc, stop=stop, link_hooks=hooks, batch=batch)
    log.info("service_started", nats_url=redact_urls(settings.nats_url))
    batch.start()
    try:
        await body(ctx)
    finally:
        await batch.stop()
        await _disconnect(nc)
        tracing.shutdown()
        log.info("service_stopped")


NATS_DRAIN_S = 3.0  # a service's last step on SIGTERM: drain its NATS connection (bounded)


async def _disconnect(nc: NATS, drain_s: float = NATS_DRAIN_S) -> None:
    """Drain (bounded: nats-py's drain waits up to 10 s on a flush when the server is gone), then close."""
    if nc.is_connected:
        drain = asyncio.create_task(nc.drain())
        done, _ = await asyncio.wait({drain}, timeout=drain_s)
        if not done:
            log.warning("nats_drain_timed_out")
            drain.cancel()
    if not nc.is_closed:
        try:
            await nc.close()
        except OSError as exc:
            log.warning("nats_close_failed", error=redact_urls(str(exc)))


def run_service(
    name: str,
    kind: type[S],
    body: Callable[[ServiceContext[S]], Awaitable[None]],
    refuse_start: Callable[[S], list[str]] | None = None,
) -> None:
    """Entry point of `python -m <service>`: settings, logging, NATS, signals; `body` returns when ctx.stop is set.

    `refuse_start` names what stops this service from starting (e.g. production without auth): exit 2 with it.
    """
    try:
        settings = load_settings(kind)
    except SettingsError as exc:
        print(redact_urls(str(exc)), file=sys.stderr)
        raise SystemExit(2) from exc
    problems = refuse_start(settings) if refuse_start is not None else []
    if problems:
        print(f"{name}: refusing to start:", *problems, sep="\n  ", file=sys.stderr)
        raise SystemExit(2)
    configure_logging(name, settings.log_level)
    if tracing.setup(name):
        log.info("tracing_on")
    with asyncio.Runner(loop_factory=loop_factory(settings.event_loop)) as runner:
        runner.run(_serve(name, settings, body))


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """`VOICECHAT_EVENT_LOOP`: the standard asyncio loop (None: asyncio's default) or uvloop's."""
    if name == "uvloop":
        return uvloop.new_event_loop
    return None
