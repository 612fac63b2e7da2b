"""Is the gateway's link to NATS carrying messages now? It sends itself a message through the server every
`interval_s`; the link is up while one came back within `stale_s`.

nats-py finds a stalled server (SIGSTOP, a frozen node: its sockets stay open) only after three missed pings
(VOICECHAT_NATS_PING_INTERVAL_S each); until then it reports itself connected while what it publishes goes into a
socket nobody reads. (A PING with a timeout, `nc.flush(timeout)`, is no probe: nats-py 2.16 leaves the timed-out
PONG's future cancelled in its queue, and the next PONG then stops its read loop.)
"""

import time
import uuid

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from shared import subjects


class LinkProbe:
    def __init__(self, nc: NATS, interval_s: float = 1.0, stale_s: float = 2.5) -> None:
        self.nc = nc
        self.interval_s = interval_s
        self.stale_s = stale_s
        self.subject = subjects.link_probe(uuid.uuid4().hex)
        self.last_back = time.monotonic()

    async def start(self) -> None:
        await self.nc.subscribe(self.subject, cb=self._came_back)

    def up(self, now: float) -> bool:
        return now - self.last_back < self.stale_s

    async def send(self) -> None:
        """One probe (run every `interval_s` by a loop that survives publish errors, shared/loops.py)."""
        await self.nc.publish(self.subject, b"")

    async def _came_back(self, _: Msg) -> None:
        self.last_back = time.monotonic()
