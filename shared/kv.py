"""JetStream KV buckets, created idempotently: the first service to start creates a bucket, the others open it.

Settings: `VOICECHAT_KV_REPLICAS` (1 under `make run`; 3 on the NATS cluster of deploy/nats/values.yaml).
"""

from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BadRequestError
from nats.js.kv import KeyValue

from shared.logs import get_logger

log = get_logger(__name__)


async def open_bucket(js: JetStreamContext, config: KeyValueConfig) -> KeyValue:
    """Create the bucket, or open it as it is when it exists with another configuration (a rolling change)."""
    try:
        return await js.create_key_value(config)
    except BadRequestError as exc:
        log.warning("kv_bucket_config_differs", bucket=config.bucket, error=exc.description)
        return await js.key_value(config.bucket)


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
