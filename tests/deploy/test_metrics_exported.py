"""Every metric the alerts and the dashboard query is exported by a running service: each service is started as
a real process (`python -m <package>`) against a real nats-server and its /metrics is scraped."""

import json
import re
import urllib.request
from collections.abc import Iterator

import pytest

from deploy.grafana import dashboard
from harness.nats_server import NatsServer
from harness.ports import free_port
from harness.procs import Service
from tests.deploy.tools import metric_names, rules_spec

MODULES = ("gateway", "vad_worker", "dialog_worker", "tools_worker", "local_agent")
# Not ours: Prometheus' own scrape health, and the NATS chart's prometheus-nats-exporter sidecar.
EXTERNAL = {"up", "nats_varz_slow_consumers"}
# Series a family of each type exposes (prometheus_client text format).
SUFFIXES = {"histogram": ("", "_bucket", "_sum", "_count", "_created"), "counter": ("", "_created")}


def families(text: str) -> set[str]:
    """Sample names from `# TYPE` lines: present even before a labelled metric's first observation."""
    names: set[str] = set()
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M):
        names.update(name + suffix for suffix in SUFFIXES.get(kind, ("",)))
    return names


@pytest.fixture(scope="module")
def scraped(nats_server: NatsServer) -> Iterator[dict[str, set[str]]]:
    services = []
    try:
        for module in MODULES:
            env = {"VOICECHAT_LOCAL_CX_PORT": str(free_port())} if module == "local_agent" else {}
            services.append(Service(module, nats_server.url, env).start())
        result = {}
        for service in services:
            with urllib.request.urlopen(service.base_url + "/metrics", timeout=5) as response:
                result[service.module] = families(response.read().decode())
        yield result
    finally:
        for service in services:
            service.stop()


def queried() -> set[str]:
    exprs = [rule["expr"] for group in rules_spec()["groups"] for rule in group["rules"]]
    board = json.loads(dashboard.render())
    exprs += [target["expr"] for panel in board["panels"] for target in panel.get("targets", [])]
    names = set().union(*(metric_names(expr) for expr in exprs))
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            names.update(re.findall(r"label_values\((\w+)", variable["query"]))
    return names


@pytest.mark.parametrize("module", MODULES)
def test_service_exports_process_and_voicechat_metrics(scraped: dict[str, set[str]], module: str) -> None:
    names = scraped[module]
    assert {"process_cpu_seconds_total", "process_resident_memory_bytes"} <= names
    assert any(name.startswith("voicechat_") for name in names)


def test_every_queried_metric_is_exported(scraped: dict[str, set[str]]) -> None:
    exported = set().union(*scraped.values())
    missing = queried() - EXTERNAL - exported
    assert not missing, f"queried but exported by no service: {sorted(missing)}"
    assert queried() >= EXTERNAL, "an external metric is no longer used: drop it from EXTERNAL"
