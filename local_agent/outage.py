"""An outage of speech on demand, for fault tests (`make chaos`, tests/integration/test_dialog_failures.py):
SIGUSR1 starts it, SIGUSR2 ends it (docs/local_agent.md). While it lasts, every `StreamingDetectIntent` is refused
and every one in flight fails at its next request with UNAVAILABLE, the status Dialogflow CX gives when a backend is
down; `DetectIntent` (typed turns, tool results) is served, and the gRPC server and its connections stay up, so a
client sees the speech service fail mid-utterance, not the network."""

import asyncio
import signal

import grpc

from local_agent.validation import RequestError
from shared.logs import get_logger

log = get_logger(__name__)


class Outage:
    def __init__(self) -> None:
        self.active = False

    def begin(self) -> None:
        self.active = True
        log.warning("local_cx_outage_started")

    def end(self) -> None:
        self.active = False
        log.warning("local_cx_outage_ended")

    def check(self) -> None:
        """Raise UNAVAILABLE while the outage lasts."""
        if self.active:
            raise RequestError(grpc.StatusCode.UNAVAILABLE, "the service is currently unavailable")

    def install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGUSR1, self.begin)
        loop.add_signal_handler(signal.SIGUSR2, self.end)
