"""Build and run the local CX gRPC server: load the agent, build the ASR model once, serve, stop gracefully."""

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import grpc

from local_agent.agent import load_agent
from local_agent.asr import build_model
from local_agent.service import LocalSessions
from shared.logs import get_logger
from shared.settings import DEFAULT_CATALOG

log = get_logger(__name__)


@dataclass
class LocalCxServer:
    server: grpc.aio.Server
    service: LocalSessions
    executor: ThreadPoolExecutor
    port: int

    async def stop(self, grace_s: float = 2.0) -> None:
        await self.server.stop(grace_s)
        self.executor.shutdown(wait=False, cancel_futures=True)


async def start_server(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    scripted: bool = False,
    catalog: Path = Path(DEFAULT_CATALOG),
    workers: int = 4,
) -> LocalCxServer:
    """Start serving `google.cloud.dialogflow.cx.v3.Sessions` on host:port (0 = a free port)."""
    started = time.perf_counter()
    agent = load_agent(catalog)
    model = None if scripted else build_model(agent)
    executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="local-cx")
    service = LocalSessions(agent, model, executor)
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((service.handler(),))
    bound = server.add_insecure_port(f"{host}:{port}")
    await server.start()
    log.info(
        "local_cx_listening",
        address=f"{host}:{bound}",
        scripted=scripted,
        products=len(agent.products),
        startup_ms=round((time.perf_counter() - started) * 1000, 1),
    )
    return LocalCxServer(server, service, executor, bound)
