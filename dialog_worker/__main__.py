"""`python -m dialog_worker`: run one dialog worker process until SIGTERM."""

from dialog_worker.cx_calls import CxDeps
from dialog_worker.cx_client import make_client, session_path
from dialog_worker.cx_turn import CxTurn
from dialog_worker.session import DialogSession
from shared import bus, subjects
from shared.convlog.writer import LogWriter
from shared.epochs import EpochFilter
from shared.metrics import start_ops_server
from shared.runtime import ServiceContext, run_service
from shared.session_worker import SessionWorker
from shared.settings import DialogSettings
from shared.shutdown import STOP_STEP_S, bounded

METRICS_PORT = 9102


async def main(ctx: ServiceContext[DialogSettings]) -> None:
    settings = ctx.settings
    client = make_client(settings)
    convlog = LogWriter(ctx.nc.jetstream(), settings) if settings.convlog_enabled else None
    if convlog is not None:
        await convlog.start()

    def new_session(claim: bus.Claim, fence: EpochFilter) -> DialogSession:
        deps = CxDeps(client, ctx.nc, settings, session_path(settings, claim.session_id), claim.language)
        return DialogSession(
            ctx.nc, settings, claim, fence, lambda sink, log, start: CxTurn(deps, sink, log, start), convlog
        )

    audio_of = subjects.all_turn_audio if settings.turn_audio else subjects.audio
    worker = SessionWorker(ctx, "dialog", new_session, audio_of)
    ops = await start_ops_server(settings.metrics_port or METRICS_PORT, worker.ready)
    await worker.start()
    try:
        await ctx.stop.wait()
        await bounded("drain", worker.drain(settings.drain_grace_s), settings.drain_grace_s + STOP_STEP_S)
    finally:
        await bounded("ops_cleanup", ops.cleanup())
        if convlog is not None:
            await bounded("convlog_close", convlog.close(timeout_s=STOP_STEP_S / 2))


if __name__ == "__main__":
    run_service("dialog_worker", DialogSettings, main)
