"""`python -m local_agent`: serve the local CX agent until SIGTERM/SIGINT, then stop gracefully."""

import asyncio
import sys
from pathlib import Path

from local_agent.server import start_server
from shared.logs import configure_logging, get_logger
from shared.metrics import start_ops_server
from shared.runtime import install_stop_signals
from shared.settings import AgentSettings, SettingsError, load_settings

log = get_logger(__name__)
DEFAULT_METRICS_PORT = 9104


async def serve(settings: AgentSettings) -> None:
    stop = asyncio.Event()
    install_stop_signals(stop)
    server = await start_server(
        settings.local_cx_host,
        settings.local_cx_port,
        scripted=settings.local_cx_scripted,
        catalog=Path(settings.catalog),
    )
    ops = await start_ops_server(settings.metrics_port or DEFAULT_METRICS_PORT, lambda: not stop.is_set())
    try:
        await stop.wait()
        log.info("local_cx_stopping", active_streams=server.service.active_streams)
    finally:
        # Streams under way finish within the grace; a replacement may already listen on the port (SO_REUSEPORT).
        await server.stop(grace_s=settings.drain_grace_s)
        await ops.cleanup()
        log.info("local_cx_stopped")


def main() -> None:
    try:
        settings = load_settings(AgentSettings)
    except SettingsError as exc:
        print(str(exc), file=sys.stderr)
        raise SystemExit(2) from exc
    configure_logging("local_cx", settings.log_level)
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
