"""`python -m vad_worker`: run one VAD worker process until SIGTERM."""

from shared.metrics import start_ops_server
from shared.runtime import ServiceContext, run_service
from shared.session_worker import SessionWorker
from shared.settings import VadSettings
from shared.shutdown import STOP_STEP_S, bounded
from vad_worker.worker import session_factory

METRICS_PORT = 9101


async def main(ctx: ServiceContext[VadSettings]) -> None:
    worker = SessionWorker(ctx, "vad", session_factory(ctx.publisher(), ctx.settings))
    ops = await start_ops_server(ctx.settings.metrics_port or METRICS_PORT, worker.ready)
    await worker.start()
    grace_s = ctx.settings.drain_grace_s
    try:
        await ctx.stop.wait()
        await bounded("drain", worker.drain(grace_s), grace_s + STOP_STEP_S)
    finally:
        await bounded("ops_cleanup", ops.cleanup())


if __name__ == "__main__":
    run_service("vad_worker", VadSettings, main)
