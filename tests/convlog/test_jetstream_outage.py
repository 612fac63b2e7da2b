"""The conversation log's stream unreachable while the rest of NATS works (the whole stack as processes): turns go
on unhindered; the log's writers keep a bounded buffer and count what they drop past it.

Sessions need JetStream itself (their records are in a KV bucket, gateway/owners.py), so the outage is the log's
alone: the server refuses every publish to the log's subjects and its stream API (a permission of the one user every
client connects as), so the log's writes and its stream creation go unanswered, as when JetStream is away."""

import json
from pathlib import Path

import aiohttp

from harness.nats_server import NatsServer
from harness.procs import metric, wait_http
from harness.stack import FULL_STACK, running_stack
from shared import subjects
from voice_client.recorder import connect

BOUND = 2
TURNS = 5
# Every client is the user `app`, who may do anything but reach the conversation log's subjects and stream API.
_DENY = json.dumps([subjects.CONVLOG_ALL, f"$JS.API.STREAM.*.{subjects.CONVLOG_STREAM}"])
LOG_REFUSED = f"""
accounts: {{ APP: {{ jetstream: enabled, users: [
  {{ user: app, password: app, permissions: {{ publish: {{ deny: {_DENY} }} }} }}
] }} }}
no_auth_user: app
"""


async def test_turns_go_on_and_the_log_drops_past_its_bound(tmp_path: Path) -> None:
    env = {"VOICECHAT_CONVLOG_BUFFER": str(BOUND)}
    config = tmp_path / "nats.conf"
    config.write_text(LOG_REFUSED)
    with running_stack(FULL_STACK, env, nats=NatsServer(extra_args=("-c", str(config)))) as stack:
        wait_http(stack.gateway.base_url + "/readyz")
        dialog = next(s for s in stack.services if s.module == "dialog_worker")
        async with aiohttp.ClientSession() as http:
            client = await connect(http, stack.gateway.base_url)
            for turn_id in range(1, TURNS + 1):
                await client.send({"type": "text_input", "text": "hello"})
                done = await client.wait_for(
                    lambda e, n=turn_id: e.get("turn_id") == n and e["type"] in ("audio_end", "error"), timeout=30
                )
                assert done["type"] == "audio_end"
            await client.close()
        assert metric(dialog, "voicechat_convlog_buffered") == BOUND
        assert metric(dialog, 'voicechat_convlog_records_total{outcome="dropped"}') == TURNS - BOUND
        assert metric(dialog, 'voicechat_convlog_records_total{outcome="written"}') == 0
        assert metric(stack.gateway, "voicechat_convlog_buffered") >= 1  # the session's start, waiting
