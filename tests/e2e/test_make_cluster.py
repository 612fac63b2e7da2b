"""`make cluster`: a session works through either gateway, survives `kill -9` of a NATS node (the one leading the
session records' KV stream), new sessions start after it, Ctrl-C stops it all."""

import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import pytest

from deploy.local.cluster import NODES, REPLICAS, ClusterLayout
from harness.procs import ROOT, descendants, kill_all, wait_http
from harness.speech import frames, utterance
from shared import subjects
from voice_client.recorder import VoiceClient, connect, start_session

pytestmark = pytest.mark.e2e

# A connecting client gets session_start or a retryable error within VOICECHAT_SESSION_START_TIMEOUT_S (5 s).
START_BOUND_S = 5.0 + 2.0
# Speech after the node loss starts once the owners' heartbeats could have gone stale and been re-claimed.
REROUTE_LEAD_MS = 3000


def free_base_port() -> int:
    """A base port whose whole layout is free, below the kernel's ephemeral range (outgoing sockets use those)."""
    for base in random.sample(range(10000, 30000, 50), 50):
        if all(_is_free(port) for port in ClusterLayout(base).ports):
            return base
    raise RuntimeError("no free port range for the cluster")


def _is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def monitor(layout: ClusterLayout, node: int, path: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{layout.monitor_port(node)}/{path}", timeout=2) as response:
        data: dict[str, Any] = json.load(response)
        return data


def routed(layout: ClusterLayout) -> bool:
    """Every node has routes to the two others."""
    for node in NODES:
        remotes = {route.get("remote_name") for route in monitor(layout, node, "routez")["routes"]}
        if remotes != {f"node{n}" for n in NODES if n != node}:
            return False
    return True


def clients(layout: ClusterLayout, nodes: list[int]) -> Counter[str]:
    """The names of the NATS clients (one per service connection) connected to `nodes`."""
    names = (c.get("name", "") for node in nodes for c in monitor(layout, node, "connz")["connections"])
    return Counter(names)


async def eventually(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(check):
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.1)


def nats_node(family: list[psutil.Process], node: int) -> psutil.Process:
    return next(p for p in family if p.name() == "nats-server" and f"node{node}" in p.cmdline())


async def speech_events(client: VoiceClient, speech: list[bytes], after: float) -> None:
    """Stream `speech` and wait for its speech_started and speech_ended (events received after `after`)."""
    await client.stream(speech)
    for kind in ("speech_started", "speech_ended"):
        await client.wait_for(lambda e, kind=kind: e["type"] == kind and e["_at"] > after, timeout=20)


async def ping(client: VoiceClient) -> None:
    sent = time.monotonic()
    await client.send({"type": "ping"})
    await client.wait_for(lambda e: e["type"] == "pong" and e["_at"] > sent)


def sessions_leader(layout: ClusterLayout) -> int:
    """The node leading the session records' KV stream (as the cluster reports it in /jsz)."""
    report = monitor(layout, NODES[0], "jsz?accounts=true&streams=true")
    streams = [stream for account in report["account_details"] for stream in account.get("stream_detail", [])]
    (leader,) = [s["cluster"]["leader"] for s in streams if s["name"] == f"KV_{subjects.SESSIONS_BUCKET}"]
    return int(leader.removeprefix("node"))


async def sessions_survive_node_loss(layout: ClusterLayout, family: list[psutil.Process]) -> None:
    gateways = [layout.gateway_url(replica) for replica in REPLICAS]
    speech = frames(utterance("hello there", 16000, "en-us+f2"), 16000)
    later = frames(utterance("hello there", 16000, "en-us+f2", lead_ms=REROUTE_LEAD_MS), 16000)
    async with aiohttp.ClientSession() as http:
        existing = [await connect(http, gateway) for gateway in gateways]
        await asyncio.gather(*(ping(client) for client in existing))
        await asyncio.gather(*(speech_events(client, speech, 0.0) for client in existing))
        per_node = await asyncio.to_thread(lambda: {node: clients(layout, [node]) for node in NODES})
        before = sum(per_node.values(), Counter[str]())
        assert before.total() >= 8  # two gateways and six workers
        victim = await asyncio.to_thread(sessions_leader, layout)  # the harder loss: the session records' leader
        survivors = [node for node in NODES if node != victim]
        nats_node(family, victim).kill()
        killed_at = time.monotonic()
        # nats-py reconnects every service to a surviving node: all client connections are back.
        await eventually(lambda: clients(layout, survivors) == before, f"every service back on {survivors}")
        fresh = [await start_session(http, gateway, answer_s=START_BOUND_S) for gateway in gateways]
        everyone = [*existing, *fresh]
        await asyncio.gather(*(speech_events(client, later, killed_at) for client in everyone))
        await asyncio.gather(*(ping(client) for client in everyone))
        for client in everyone:
            await client.close()


def stop_cleanly(proc: subprocess.Popen[bytes]) -> None:
    family = descendants(psutil.Process(proc.pid))
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches make's whole foreground process group
    started = time.monotonic()
    proc.wait(timeout=15)
    _, alive = psutil.wait_procs(family, timeout=max(0.1, 10 - (time.monotonic() - started)))
    assert alive == [], f"left behind: {[p.cmdline() for p in alive]}"


def services_see_every_node(layout: ClusterLayout, family: list[psutil.Process]) -> None:
    """Two gateways, two of each worker and the local agent, each given the three client URLs."""
    services = [p for p in family if p.cmdline()[1:2] == ["-m"]]
    modules = sorted(p.cmdline()[2] for p in services)
    workers = ["dialog_worker", "gateway", "tools_worker", "vad_worker"]
    assert modules == sorted([*workers, *workers, "local_agent"])
    assert {p.environ().get("VOICECHAT_NATS_URL") for p in services} == {layout.nats_urls}


def test_make_cluster_serves_through_both_gateways_and_survives_a_nats_node_loss(tmp_path: Path) -> None:
    layout = ClusterLayout(free_base_port())
    run_dir = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICECHAT_") and k not in ("MAKEFLAGS", "MFLAGS")}
    env.update({"CLUSTER_BASE_PORT": str(layout.base), "RUN_DIR": str(run_dir)})
    output = tmp_path / "make-cluster.log"
    with output.open("wb") as log:
        proc = subprocess.Popen(
            ["make", "--no-print-directory", "cluster"],
            cwd=ROOT,
            env=env,
            start_new_session=True,
            stdout=log,
            stderr=log,
        )
    root = psutil.Process(proc.pid)
    family: list[psutil.Process] = []
    try:
        for replica in REPLICAS:
            wait_http(layout.gateway_url(replica) + "/readyz", timeout=90)
        asyncio.run(eventually(lambda: routed(layout), "routes between the three nodes"))
        family = descendants(root)
        services_see_every_node(layout, family)
        asyncio.run(sessions_survive_node_loss(layout, family))
        stop_cleanly(proc)
        text = output.read_text(errors="replace")
        assert all(f"{layout.gateway_url(r)}/test" in text for r in REPLICAS)
        assert layout.nats_urls in text
    except BaseException:
        print("\n".join(output.read_text(errors="replace").splitlines()[-80:]))  # honcho's view, for CI failures
        raise
    finally:
        kill_all([*descendants(root), *family])
