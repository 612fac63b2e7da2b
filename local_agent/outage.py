"""An outage of speech on demand, for fault tests (`make chaos`, tests/integration/test_dialog_failures.py):
SIGUSR1 starts it, SIGUSR2 ends it (docs/local_agent.md). While it lasts, every `StreamingDetectIntent` is refused
and every one in flight fails at once (its handler is cancelled, then aborts) with UNAVAILABLE, the status
Dialogflow CX gives when a backend is down; `DetectIntent` (typed turns, tool results) is served, and the gRPC
server and its connections stay up, so a client sees the speech service fail mid-utterance, not the network. A
client writing at that moment may see INTERNAL instead (grpc/grpc#36066); a turn fails either way."""

import asyncio
import signal

import grpc

from local_agent.validation import RequestError
from shared.logs import get_logger

log = get_logger(__name__)


class Outage:
    def __init__(self) -> None:
        self.active = False
        self.streams: set[asyncio.Task[None]] = set()  # the handlers of the streams in flight

    def begin(self) -> None:
        self.active = True
        log.warning("local_cx_outage_started", streams=len(self.streams))
        for task in self.streams:
            task.cancel()

    def end(self) -> None:
        self.active = False
        log.warning("local_cx_outage_ended")

    def check(self) -> None:
        """Refuse a new stream while the outage lasts."""
        if self.active:
            raise self.error()

    @staticmethod
    def error() -> RequestError:
        return RequestError(grpc.StatusCode.UNAVAILABLE, "the service is currently unavailable")

    def install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGUSR1, self.begin)
        loop.add_signal_handler(signal.SIGUSR2, self.end)
