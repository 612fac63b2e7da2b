"""`python -m gateway`: serve the WebSocket gateway until SIGTERM, then close sockets with 1001."""

import asyncio

from aiohttp import web

from gateway.app import SHUTDOWN_TIMEOUT_S, build_app
from gateway.owners import OwnerTracker
from gateway.shopper_kv import KvShoppers
from gateway.tokens import resume_key
from shared.convlog.writer import LogWriter
from shared.logs import get_logger
from shared.runtime import ServiceContext, run_service
from shared.settings import GatewaySettings, production_problems
from shared.shutdown import STOP_STEP_S, bounded

log = get_logger(__name__)


async def main(ctx: ServiceContext[GatewaySettings]) -> None:
    settings = ctx.settings
    if settings.auth_secret is None:
        log.warning("auth_off", hint="any client may connect: set VOICECHAT_AUTH_SECRET to require JWTs")
    key, shared_key = resume_key(settings)
    if not shared_key:
        log.warning("resume_this_gateway_only", hint="set VOICECHAT_RESUME_SECRET (or AUTH_SECRET) on every gateway")
    if settings.allow_query_credentials:
        log.warning("query_credentials_allowed", hint="credentials in URLs reach access logs: migrate clients")
    tracker = OwnerTracker(ctx.nc, ctx.settings)
    await tracker.start()
    ctx.link_hooks.disconnected.append(tracker.nats_disconnected)
    ctx.link_hooks.reconnected.append(tracker.nats_reconnected)
    shoppers = await KvShoppers.open_buckets(ctx.nc.jetstream(timeout=settings.claim_timeout_s), settings)
    refresh = asyncio.create_task(shoppers.run())
    convlog = LogWriter(ctx.nc.jetstream(), settings) if settings.convlog_enabled else None
    if convlog is not None:
        await convlog.start()
    app = build_app(ctx.nc, settings, tracker, shoppers, key, convlog, ctx.publisher())
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
    await runner.setup()
    await web.TCPSite(runner, "0.0.0.0", ctx.settings.http_port).start()
    log.info("gateway_listening", port=ctx.settings.http_port)
    try:
        await ctx.stop.wait()
    finally:
        await runner.cleanup()
        refresh.cancel()
        await bounded("tracker_stop", tracker.stop())
        if convlog is not None:
            await bounded("convlog_close", convlog.close(timeout_s=STOP_STEP_S / 2))


if __name__ == "__main__":
    run_service("gateway", GatewaySettings, main, refuse_start=production_problems)
