"""Production defaults: under VOICECHAT_ENV=production the gateway refuses to start without an auth secret and an
origin allow-list (says why, exits non-zero, before touching NATS); development keeps working without them."""

import subprocess
import sys

import pytest

from harness.nats_server import NatsServer
from harness.ports import free_port
from harness.procs import ROOT, Service, service_env
from shared.settings import GatewaySettings, production_problems

STRONG = "p" * 48


def start_gateway(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    unreachable = f"nats://gateway:hunter2-password@127.0.0.1:{free_port()}"
    full = service_env(unreachable, {"VOICECHAT_HTTP_PORT": str(free_port()), **env})
    command = [sys.executable, "-m", "gateway"]
    return subprocess.run(command, cwd=ROOT, env=full, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({}, ["VOICECHAT_AUTH_SECRET", "VOICECHAT_ALLOWED_ORIGINS"]),
        ({"VOICECHAT_AUTH_SECRET": STRONG}, ["VOICECHAT_ALLOWED_ORIGINS"]),
        ({"VOICECHAT_ALLOWED_ORIGINS": "https://shop.example"}, ["VOICECHAT_AUTH_SECRET"]),
        ({"VOICECHAT_AUTH_SECRET": "short", "VOICECHAT_ALLOWED_ORIGINS": "https://shop.example"}, ["AUTH_SECRET"]),
    ],
)
def test_production_gateway_refuses_to_start_and_says_why(env: dict[str, str], named: list[str]) -> None:
    done = start_gateway({"VOICECHAT_ENV": "production", **env})
    assert done.returncode == 2
    assert "gateway: refusing to start" in done.stderr and "VOICECHAT_ENV=production" in done.stderr
    assert all(name in done.stderr for name in named)
    assert "hunter2" not in done.stdout + done.stderr


def test_production_refuses_credentials_in_urls() -> None:
    settings = GatewaySettings(env="production", auth_secret=STRONG, allowed_origins=("https://a.example",))
    assert production_problems(settings) == []
    legacy = GatewaySettings(
        env="production", auth_secret=STRONG, allowed_origins=("https://a.example",), allow_query_credentials=True
    )
    assert ["VOICECHAT_ALLOW_QUERY_CREDENTIALS" in problem for problem in production_problems(legacy)] == [True]


def test_development_starts_without_auth_and_says_auth_is_off() -> None:
    assert production_problems(GatewaySettings()) == []
    nats = NatsServer(user=("gateway", "hunter2-password")).start()
    try:
        gateway = Service("gateway", nats.url, {"VOICECHAT_ENV": "development"}).start()
        gateway.stop()
    finally:
        nats.close()
    output = gateway.output()
    assert '"event": "auth_off"' in output and "nats://***@127.0.0.1" in output
    assert "hunter2" not in output
