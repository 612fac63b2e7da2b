"""The NATS link hooks of every service (shared/runtime.py `LinkHooks`) on a real nats-server restart: the
disconnect hooks run when the link drops, the reconnect hooks once it is back, after what was published meanwhile
was flushed and delivered (the gateway's turn accounting relies on both, gateway/owners.py)."""

import asyncio

from harness.nats_server import NatsServer
from shared.runtime import LinkHooks, connect
from shared.settings import CommonSettings


async def test_a_restart_runs_the_disconnect_hooks_then_the_reconnect_hooks_after_the_flush() -> None:
    server = NatsServer().start()
    seen: list[str] = []
    down, back = asyncio.Event(), asyncio.Event()

    async def dropped() -> None:
        seen.append("disconnected")
        down.set()

    async def reconnected() -> None:
        seen.append(f"reconnected, {nc.pending_data_size} bytes waiting")
        back.set()

    try:
        nc = await connect(
            CommonSettings(nats_url=server.url), "link-hooks-test", hooks=LinkHooks([dropped], [reconnected])
        )
        heard = await nc.subscribe("probe")
        await asyncio.to_thread(server.stop)
        await asyncio.wait_for(down.wait(), 30)
        await nc.publish("probe", b"typed while the link was down")
        await asyncio.to_thread(server.start)
        await asyncio.wait_for(back.wait(), 30)
        assert seen == ["disconnected", "reconnected, 0 bytes waiting"]
        assert (await heard.next_msg(timeout=5)).data == b"typed while the link was down"  # buffered, then sent
        await nc.close()
    finally:
        server.close()
