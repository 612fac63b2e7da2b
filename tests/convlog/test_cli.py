"""`python -m convlog` as a process against a real nats-server: JSONL export of a time range, and its reports."""

import asyncio
import json
import subprocess
import sys

from nats.aio.client import Client as NATS

from harness.nats_server import NatsServer
from harness.procs import ROOT, service_env
from shared.convlog.records import ToolCall, decoder
from shared.convlog.writer import LogWriter
from shared.settings import ConvlogSettings
from tests.convlog.conftest import new_session, search, started, turn


def convlog(server: NatsServer, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "convlog", *args],
        cwd=ROOT,
        env=service_env(server.url),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def log_two_sessions(client: NATS) -> None:
    writer = LogWriter(client.jetstream(), ConvlogSettings())
    await writer.start()
    first, second = new_session(), new_session()
    for record in (
        started(first),
        turn(
            first,
            1,
            transcript="Show me  running shoes",
            intent="search_products",
            tool_calls=[search("shoes", [1, 2])],
        ),
        turn(first, 2, transcript="show me running shoes", intent="search_products", outcome="interrupted"),
        turn(
            first, 3, transcript="do you have unicorns", intent="search_products", tool_calls=[search("unicorns", [])]
        ),
        started(second),
        turn(second, 1, transcript="blah blah", intent="fallback"),
        turn(
            second,
            2,
            transcript="tell me about product 999",
            intent="product_details",
            outcome="failed",
            error_code="tool_failed",
            tool_calls=[ToolCall(tool="get_product", arguments={"product_id": 999}, error="not_found")],
        ),
    ):
        writer.write(record)
    await writer.close(timeout_s=5)
    assert writer.buffered == 0


async def test_export_writes_the_range_as_json_lines(server: NatsServer, client: NATS) -> None:
    await log_two_sessions(client)
    done = await asyncio.to_thread(convlog, server, "export", "--since", "1h")
    assert done.returncode == 0, done.stderr
    records = [decoder.decode(line) for line in done.stdout.splitlines()]
    assert [type(r).__name__ for r in records].count("TurnRecord") == 5
    assert len(records) == 7
    later = await asyncio.to_thread(convlog, server, "export", "--since", "now", "--until", "now")
    assert later.returncode == 0 and later.stdout == ""


async def test_report_counts_queries_intents_and_rates(server: NatsServer, client: NATS) -> None:
    await log_two_sessions(client)
    done = await asyncio.to_thread(convlog, server, "report", "--since", "1h", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["sessions"] == 2 and report["turns"] == 5
    assert report["top_queries"][0] == ["show me running shoes", 2]
    assert report["no_result_queries"] == [["unicorns", 1]]
    assert report["intents"] == {"search_products": 3, "fallback": 1, "product_details": 1}
    assert report["fallback_rate"] == 0.2
    assert report["interruption_rate"] == 0.2
    assert report["failure_codes"] == {"tool_failed": 1}
    text = await asyncio.to_thread(convlog, server, "report", "--since", "1h")
    assert "fallback rate: 20.0 %" in text.stdout and "queries with no results:" in text.stdout


def test_bad_arguments_and_no_nats_are_clear_errors() -> None:
    server = NatsServer()  # never started: nothing listens on its port
    bad = convlog(server, "export", "--since", "yesterday-ish")
    assert bad.returncode == 2 and "neither an ISO 8601 time" in bad.stderr
    down = convlog(server, "report")
    assert down.returncode == 1 and "cannot read the log" in down.stderr
