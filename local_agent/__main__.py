"""`python -m local_agent`: serve the local CX agent until SIGTERM/SIGINT, then stop gracefully.

See docs/local_agent.md.
"""

import asyncio
import sys
from pathlib import Path

from local_agent.server import AgentOptions, start_server
from local_agent.sessions import store_path
from shared.logs import configure_logging, get_logger
from shared.metrics import start_ops_server
from shared.runtime import install_stop_signals
from shared.settings import AgentSettings, SettingsError, load_settings

log = get_logger(__name__)
DEFAULT_METRICS_PORT = 9104


async def serve(settings: AgentSettings) -> None:
    stop = asyncio.Event()
    install_stop_signals(stop)
    options = AgentOptions(
        catalog=Path(settings.catalog),
        asr="scripted" if settings.local_cx_scripted else settings.local_cx_asr,
        whisper_model=settings.local_cx_whisper_model,
        asr_workers=settings.local_cx_asr_workers,
        asr_wait_s=settings.local_cx_asr_wait_s,
        sessions_path=store_path(settings.run_dir),
    )
    server = await start_server(settings.local_cx_host, settings.local_cx_port, options)
    server.service.outage.install_signals()  # SIGUSR1/SIGUSR2: an outage for fault tests (local_agent/outage.py)
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
