"""JetStream KV buckets, created idempotently: the first service to start creates a bucket, the others open it.

A cluster that has just started (or restarted) answers JetStream requests only once its meta leader is elected,
and a new replicated bucket takes writes only once its own leader is: start-up steps are retried meanwhile, for
`STARTUP_S` at most, so services may start in any order with the NATS servers (`make cluster`, a Kubernetes
rollout).

Settings: `VOICECHAT_KV_REPLICAS` (1 under `make run`; 3 on the NATS cluster of deploy/nats/values.yaml).
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BadRequestError, NoStreamResponseError, ServiceUnavailableError
from nats.js.kv import KeyValue

from shared.logs import get_logger

log = get_logger(__name__)
T = TypeVar("T")

STARTUP_S = 60.0  # how long a start-up step waits for JetStream to answer
STARTUP_RETRY_S = 0.5


class NoLeaderYet(Exception):
    """A stream exists but has no leader elected yet: it takes no writes."""


NOT_READY = (NoRespondersError, NoStreamResponseError, ServiceUnavailableError, NatsTimeoutError, NoLeaderYet)


async def when_ready(what: str, step: Callable[[], Awaitable[T]], within_s: float = STARTUP_S) -> T:
    """`step()`, retried while JetStream is not ready yet (`NOT_READY`), for `within_s` at most (then it raises)."""
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        try:
            return await step()
        except NOT_READY as exc:
            if asyncio.get_running_loop().time() >= deadline:
                raise
            log.warning("jetstream_not_ready", step=what, error=repr(exc))
        await asyncio.sleep(STARTUP_RETRY_S)


async def has_leader(js: JetStreamContext, stream: str) -> None:
    """Raise `NoLeaderYet` unless the stream has a leader (a stream of a single server always has)."""
    cluster = (await js.stream_info(stream)).cluster
    if cluster is not None and not cluster.leader:
        raise NoLeaderYet(stream)


async def open_bucket(js: JetStreamContext, config: KeyValueConfig) -> KeyValue:
    """Create the bucket, or open it as it is when it exists with another configuration (a rolling change); return
    once it takes writes."""

    async def create_or_open() -> KeyValue:
        try:
            kv = await js.create_key_value(config)
        except BadRequestError as exc:
            log.warning("kv_bucket_config_differs", bucket=config.bucket, error=exc.description)
            kv = await js.key_value(config.bucket)
        await has_leader(js, f"KV_{config.bucket}")
        return kv

    return await when_ready(f"kv_{config.bucket}", create_or_open)


def bucket_config(bucket: str, replicas: int, ttl_s: float, expiry_markers: bool = False) -> KeyValueConfig:
    """One value per key, aged out after `ttl_s`; with `expiry_markers` the server tells watchers when a key ages
    out (a marker kept for a second), which is how gateways learn that a worker stopped refreshing its key."""
    return KeyValueConfig(
        bucket=bucket,
        history=1,
        ttl=ttl_s,
        replicas=replicas,
        storage=StorageType.FILE,
        limit_marker_ttl=1.0 if expiry_markers else None,
    )
