"""Our stack under test: every service as a process plus nats-server, the local agent in scripted fast mode."""

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from bench.system.procs import ProcWatch, scrape
from harness.procs import wait_http
from harness.stack import FULL_STACK, Stack, running_stack

AGENT_TIME = ("voicechat_agent_processing_seconds_sum", "voicechat_agent_processing_seconds_count")
SCRIPTED = {"VOICECHAT_LOCAL_CX_SCRIPTED": "1"}


@dataclass
class Target:
    stack: Stack
    url: str
    watch: ProcWatch

    def pids(self) -> dict[str, int]:
        return {s.module: s.proc.pid for s in self.stack.services if s.proc is not None}

    def agent_time(self) -> dict[str, float]:
        """The dialog worker's record of the agent's own processing time (seconds, summed over responses)."""
        dialog = next(s for s in self.stack.services if s.module == "dialog_worker")
        return scrape(dialog.base_url + "/metrics", AGENT_TIME)


@contextmanager
def running_target(env: Mapping[str, str] | None = None) -> Iterator[Target]:
    """The stack in scripted mode; `env` adds settings for every service (e.g. VOICECHAT_EVENT_LOOP)."""
    with running_stack(FULL_STACK, env={**SCRIPTED, **(env or {})}) as stack:
        wait_http(stack.gateway.base_url + "/readyz")
        assert stack.nats.proc is not None
        groups = {s.module: [s.proc.pid] for s in stack.services if s.proc is not None}
        groups["nats-server"] = [stack.nats.proc.pid]
        url = stack.gateway.base_url.replace("http://", "ws://") + "/ws/voice-chat?sample_rate=16000"
        yield Target(stack, url, ProcWatch(groups))
