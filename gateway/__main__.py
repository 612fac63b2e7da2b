"""`python -m gateway`: serve the WebSocket gateway until SIGTERM, then close sockets with 1001."""

from aiohttp import web

from gateway.app import SHUTDOWN_TIMEOUT_S, build_app
from gateway.owners import OwnerTracker
from shared.logs import get_logger
from shared.runtime import ServiceContext, run_service
from shared.settings import GatewaySettings

log = get_logger(__name__)


async def main(ctx: ServiceContext[GatewaySettings]) -> None:
    if ctx.settings.auth_secret is None:
        log.warning("resume_tokens_use_development_secret", hint="set VOICECHAT_AUTH_SECRET in production")
    tracker = OwnerTracker(ctx.nc, ctx.settings)
    await tracker.start()
    ctx.reconnect_hooks.append(tracker.nats_reconnected)
    runner = web.AppRunner(
        build_app(ctx.nc, ctx.settings, tracker), access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S
    )
    await runner.setup()
    await web.TCPSite(runner, "0.0.0.0", ctx.settings.http_port).start()
    log.info("gateway_listening", port=ctx.settings.http_port)
    try:
        await ctx.stop.wait()
    finally:
        await runner.cleanup()
        await tracker.stop()


if __name__ == "__main__":
    run_service("gateway", GatewaySettings, main)
