"""Port layout of `make cluster`, written as the env file its Procfile (deploy/local/Procfile.cluster) reads.

Every port derives from one base port B (`make cluster CLUSTER_BASE_PORT=B`, default 8100):

| ports        | what                                                        |
|--------------|-------------------------------------------------------------|
| B .. B+2     | NATS client ports of node1 .. node3                         |
| B+5 .. B+7   | NATS monitoring (/varz, /routez) of node1 .. node3          |
| B+10 .. B+12 | NATS cluster routes of node1 .. node3                       |
| B+20, B+21   | gateway1, gateway2 (HTTP, WebSocket, /test, ops)            |
| B+30 .. B+35 | ops ports of vad1, vad2, dialog1, dialog2, tools1, tools2   |
| B+36, B+40   | local CX agent: ops port, gRPC port                         |

Importable (the e2e test and chaos scripts use `ClusterLayout`) and runnable:
`python -m deploy.local.cluster BASE RUN_DIR` writes RUN_DIR/cluster.env and prints the URLs.
"""

import argparse
import secrets
from dataclasses import dataclass
from pathlib import Path

NODES = (1, 2, 3)
REPLICAS = (1, 2)
WORKER_KINDS = ("vad", "dialog", "tools")
ENV_FILE = "cluster.env"
DEFAULT_BASE_PORT = 8100


@dataclass(frozen=True)
class ClusterLayout:
    base: int

    def nats_port(self, node: int) -> int:
        return self.base + node - 1

    def monitor_port(self, node: int) -> int:
        return self.base + 4 + node

    def route_port(self, node: int) -> int:
        return self.base + 9 + node

    def gateway_port(self, replica: int) -> int:
        return self.base + 19 + replica

    def worker_ops_port(self, kind: str, replica: int) -> int:
        return self.base + 30 + 2 * WORKER_KINDS.index(kind) + replica - 1

    @property
    def local_cx_ops_port(self) -> int:
        return self.base + 36

    @property
    def local_cx_port(self) -> int:
        return self.base + 40

    @property
    def ports(self) -> list[int]:
        """Every port the cluster listens on."""
        nats = [p(n) for n in NODES for p in (self.nats_port, self.monitor_port, self.route_port)]
        workers = [self.worker_ops_port(kind, r) for kind in WORKER_KINDS for r in REPLICAS]
        gateways = [self.gateway_port(r) for r in REPLICAS]
        return [*nats, *gateways, *workers, self.local_cx_ops_port, self.local_cx_port]

    def nats_url(self, node: int) -> str:
        return f"nats://127.0.0.1:{self.nats_port(node)}"

    @property
    def nats_urls(self) -> str:
        """The client URLs of all nodes, comma-separated: what the services get as VOICECHAT_NATS_URL."""
        return ",".join(self.nats_url(n) for n in NODES)

    def gateway_url(self, replica: int) -> str:
        return f"http://127.0.0.1:{self.gateway_port(replica)}"

    def env(self, run_dir: Path) -> dict[str, str]:
        """The variables Procfile.cluster uses; services see VOICECHAT_* ones as their settings."""
        env = {
            "VOICECHAT_NATS_URL": self.nats_urls,
            "VOICECHAT_LOCAL_CX_PORT": str(self.local_cx_port),
            "CLUSTER_LOCAL_CX_OPS_PORT": str(self.local_cx_ops_port),
            # both gateways verify each other's resume tokens (a fresh key per `make cluster`)
            "VOICECHAT_RESUME_SECRET": secrets.token_urlsafe(32),
            # the session record, worker liveness and the conversation log survive the loss of any one node
            "VOICECHAT_KV_REPLICAS": "3",
            "VOICECHAT_CONVLOG_REPLICAS": "3",
        }
        for node in NODES:
            others = [f"nats://127.0.0.1:{self.route_port(n)}" for n in NODES if n != node]
            env[f"CLUSTER_NATS_PORT_{node}"] = str(self.nats_port(node))
            env[f"CLUSTER_MONITOR_PORT_{node}"] = str(self.monitor_port(node))
            env[f"CLUSTER_LISTEN_{node}"] = f"nats://127.0.0.1:{self.route_port(node)}"
            env[f"CLUSTER_ROUTES_{node}"] = ",".join(others)
            env[f"CLUSTER_STORE_{node}"] = str(run_dir / f"node{node}")
        for replica in REPLICAS:
            env[f"CLUSTER_GATEWAY_PORT_{replica}"] = str(self.gateway_port(replica))
            for kind in WORKER_KINDS:
                env[f"CLUSTER_{kind.upper()}_OPS_PORT_{replica}"] = str(self.worker_ops_port(kind, replica))
        return env


def write_env(layout: ClusterLayout, run_dir: Path) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / ENV_FILE
    lines = [f'{key}="{value}"' for key, value in layout.env(run_dir).items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.local.cluster", description="Write the env file of make cluster."
    )
    parser.add_argument("base_port", type=int, help="first port of the layout")
    parser.add_argument("run_dir", type=Path, help="where cluster.env and the NATS stores go")
    args = parser.parse_args(argv)
    layout = ClusterLayout(args.base_port)
    write_env(layout, args.run_dir)
    for replica in REPLICAS:
        print(f"voicechat cluster: gateway{replica}  {layout.gateway_url(replica)}/test")
    print(f"voicechat cluster: NATS      {layout.nats_urls}")
    print("voicechat cluster: Ctrl-C stops everything")


if __name__ == "__main__":
    main()
