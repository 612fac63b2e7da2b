"""`python -m vad_worker`: run one VAD worker process until SIGTERM."""

from shared.metrics import start_ops_server
from shared.runtime import ServiceContext, run_service
from shared.session_worker import SessionWorker
from shared.settings import VadSettings
from vad_worker.worker import VadSession

METRICS_PORT = 9101


async def main(ctx: ServiceContext[VadSettings]) -> None:
    worker = SessionWorker(ctx, "vad", lambda claim, fence: VadSession(ctx.nc, ctx.settings, claim, fence))
    ops = await start_ops_server(ctx.settings.metrics_port or METRICS_PORT, worker.ready)
    await worker.start()
    try:
        await ctx.stop.wait()
        await worker.drain(ctx.settings.drain_grace_s)
    finally:
        await ops.cleanup()


if __name__ == "__main__":
    run_service("vad_worker", VadSettings, main)
