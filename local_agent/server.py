"""Build and run the local CX gRPC server: load the agent, the recognition engine and the session store once,
serve, stop gracefully. The engine and the dialogue are chosen here, once (docs/local_agent.md)."""

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import grpc

from local_agent.agent import Agent, load_agent
from local_agent.asr import build_model
from local_agent.dialogue import AgentDialogue, Dialogue
from local_agent.listeners import PocketsphinxListener, WhisperListener
from local_agent.listening import Listener
from local_agent.outage import Outage
from local_agent.pool import RecognitionPool, cpu_count, pool_size
from local_agent.scripted import ScriptedDialogue, ScriptedListener
from local_agent.service import LocalSessions
from local_agent.sessions import SessionStore
from local_agent.whisper import Transcriber, model_dir, shop_prompt
from shared.logs import get_logger
from shared.settings import DEFAULT_CATALOG

log = get_logger(__name__)


@dataclass(frozen=True)
class AgentOptions:
    """How to build the agent: `asr` is "whisper", "pocketsphinx" or "scripted" (the benchmark mode)."""

    catalog: Path = Path(DEFAULT_CATALOG)
    asr: str = "whisper"
    whisper_model: str | None = None
    asr_workers: int = 0
    asr_wait_s: float = 2.0
    sessions_path: Path | None = None
    workers: int = 4


@dataclass
class LocalCxServer:
    server: grpc.aio.Server
    service: LocalSessions
    executor: ThreadPoolExecutor
    port: int

    async def stop(self, grace_s: float = 2.0) -> None:
        await self.server.stop(grace_s)
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.service.pool.shutdown()
        self.service.sessions.close()


def build_engine(agent: Agent, options: AgentOptions, workers: int) -> tuple[Dialogue, Listener]:
    if options.asr == "scripted":
        return ScriptedDialogue(agent), ScriptedListener()
    model = build_model(agent)
    if options.asr == "pocketsphinx":
        return AgentDialogue(agent), PocketsphinxListener(model)
    threads = max(1, cpu_count() // workers)
    transcriber = Transcriber(model_dir(options.whisper_model), shop_prompt(agent), workers, threads)
    return AgentDialogue(agent), WhisperListener(model, transcriber)


async def start_server(host: str = "127.0.0.1", port: int = 0, options: AgentOptions | None = None) -> LocalCxServer:
    """Start serving `google.cloud.dialogflow.cx.v3.Sessions` on host:port (0 = a free port)."""
    options = options or AgentOptions()
    started = time.perf_counter()
    agent = load_agent(options.catalog)
    workers = pool_size(options.asr_workers)
    dialogue, listener = build_engine(agent, options, workers)
    executor = ThreadPoolExecutor(max_workers=options.workers, thread_name_prefix="local-cx")
    pool = RecognitionPool(listener.name, workers, options.asr_wait_s)
    service = LocalSessions(agent, dialogue, listener, pool, executor, SessionStore(options.sessions_path), Outage())
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((service.handler(),))
    bound = server.add_insecure_port(f"{host}:{port}")
    await server.start()
    log.info(
        "local_cx_listening",
        address=f"{host}:{bound}",
        asr=listener.name,
        recognition_workers=workers,
        products=len(agent.products),
        startup_ms=round((time.perf_counter() - started) * 1000, 1),
    )
    return LocalCxServer(server, service, executor, bound)
