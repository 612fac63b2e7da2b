"""`python -m tools_worker`: the tools service, its ops endpoint (/metrics), and a bounded drain on SIGTERM."""

from shared.logs import get_logger
from shared.metrics import start_ops_server
from shared.runtime import ServiceContext, run_service
from shared.settings import ToolsSettings
from tools_worker.backend import create_backend
from tools_worker.service import ToolsService

log = get_logger(__name__)
DEFAULT_METRICS_PORT = 9103


async def body(ctx: ServiceContext[ToolsSettings]) -> None:
    backend = await create_backend(ctx.settings)
    service = ToolsService(ctx.nc, backend)
    await service.start()
    port = DEFAULT_METRICS_PORT if ctx.settings.metrics_port is None else ctx.settings.metrics_port
    runner = await start_ops_server(port, lambda: service.running and ctx.nc.is_connected)
    log.info("tools_worker_ready", backend=type(backend).__name__, metrics_port=port)
    try:
        await ctx.stop.wait()
    finally:
        await service.drain()
        await backend.close()
        await runner.cleanup()


if __name__ == "__main__":
    run_service("tools_worker", ToolsSettings, body)
