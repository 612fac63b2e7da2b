"""The kustomize overlays render offline, every core object validates against the Kubernetes schemas, CRD objects
are structurally sound, and each service gets the scaling, probes, drain and restricted pod settings it needs."""

from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest

from gateway.app import SHUTDOWN_TIMEOUT_S
from shared.runtime import NATS_DRAIN_S
from shared.settings import GatewaySettings
from shared.shutdown import STOP_STEP_S
from tests.deploy.tools import OVERLAYS, render

# Oldest supported (the preStop `sleep` action) and the newest schemas the validator ships.
K8S_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())
SERVICES = {"dev": {"gateway", "vad-worker", "dialog-worker", "tools-worker", "local-agent"}}
SERVICES["prod"] = SERVICES["dev"] - {"local-agent"}
GRACE = {"gateway": 45}  # seconds; 30 for every other service


@pytest.fixture(scope="module", params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, Any]]]:
    return request.param, render(request.param)


def by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {obj["metadata"]["name"]: obj for obj in objects if obj["kind"] == kind}


def env_of(container: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item.get("value", "") for item in container.get("env", [])}


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_core_objects_validate_strictly(overlay: tuple[str, list[dict[str, Any]]], version: str) -> None:
    for obj in overlay[1]:
        if obj["apiVersion"].startswith("monitoring.coreos.com/"):
            continue
        kubernetes_validate.validate(obj, version, strict=True)


def test_validator_rejects_a_bad_object() -> None:
    bad = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}, "spec": {"portz": []}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, K8S_VERSIONS[0], strict=True)


def test_every_service_has_its_objects(overlay: tuple[str, list[dict[str, Any]]]) -> None:
    name, objects = overlay
    for kind in ("Deployment", "Service", "ServiceAccount", "HorizontalPodAutoscaler", "PodDisruptionBudget"):
        assert set(by_kind(objects, kind)) == SERVICES[name], kind
    for hpa in by_kind(objects, "HorizontalPodAutoscaler").values():
        assert hpa["spec"]["scaleTargetRef"]["name"] == hpa["metadata"]["name"]


def test_pods_are_restricted_probed_and_drained(overlay: tuple[str, list[dict[str, Any]]]) -> None:
    for name, deployment in by_kind(overlay[1], "Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["automountServiceAccountToken"] is False
        assert pod["serviceAccountName"] == name
        assert pod["terminationGracePeriodSeconds"] == GRACE.get(name, 30)
        (container,) = pod["containers"]
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"]["drop"] == ["ALL"]
        assert {"livenessProbe", "readinessProbe"} <= container.keys()
        assert {"cpu", "memory"} <= container["resources"]["requests"].keys() & container["resources"]["limits"].keys()
        assert float(env_of(container)["VOICECHAT_DRAIN_GRACE_S"]) < pod["terminationGracePeriodSeconds"]


def test_gateway_drain_fits_the_pod_grace(overlay: tuple[str, list[dict[str, Any]]]) -> None:
    """preStop, then the drain (each socket closes once its session is idle, the rest when the grace leaves time to
    close them, each close bounded), then aiohttp's handler shutdown (a graceful wait, then a wait for the cancelled),
    the two bounded stop steps and the bounded NATS drain: all within terminationGracePeriodSeconds."""
    pod = by_kind(overlay[1], "Deployment")["gateway"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = env_of(container)
    settings = GatewaySettings(
        drain_grace_s=float(env["VOICECHAT_DRAIN_GRACE_S"]),
        socket_close_timeout_s=float(env["VOICECHAT_SOCKET_CLOSE_TIMEOUT_S"]),
    )
    assert settings.socket_close_timeout_s < settings.drain_grace_s
    pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    exit_s = pre_stop + settings.drain_grace_s + 2 * SHUTDOWN_TIMEOUT_S + 2 * STOP_STEP_S + NATS_DRAIN_S
    assert exit_s <= pod["terminationGracePeriodSeconds"]


def test_references_resolve(overlay: tuple[str, list[dict[str, Any]]]) -> None:
    name, objects = overlay
    config_maps = set(by_kind(objects, "ConfigMap"))
    secrets = set(by_kind(objects, "Secret"))
    for deployment in by_kind(objects, "Deployment").values():
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        for source in container["envFrom"]:
            assert source["configMapRef"]["name"] in config_maps
        for item in container.get("env", []):
            ref = item.get("valueFrom", {}).get("secretKeyRef")
            if ref and name == "dev":  # prod Secrets are created out of band (docs/deploy.md)
                assert ref["name"] in secrets


def test_ingress_reaches_only_the_gateway_entry_points(overlay: tuple[str, list[dict[str, Any]]]) -> None:
    (ingress,) = by_kind(overlay[1], "Ingress").values()
    annotations = ingress["metadata"]["annotations"]
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-send-timeout"]) >= 3600
    assert not any("affinity" in key for key in annotations)
    assert ingress["spec"]["tls"][0]["hosts"] == [ingress["spec"]["rules"][0]["host"]]
    paths = ingress["spec"]["rules"][0]["http"]["paths"]
    assert sorted(path["path"] for path in paths) == ["/twilio/voice", "/ws/twilio", "/ws/voice-chat"]
    assert {(path["pathType"], path["backend"]["service"]["name"]) for path in paths} == {("Exact", "gateway")}


def test_default_deny_covers_every_pod(overlay: tuple[str, list[dict[str, Any]]]) -> None:
    objects = overlay[1]
    deny = by_kind(objects, "NetworkPolicy")["default-deny"]
    selector = deny["spec"]["podSelector"]["matchLabels"]
    assert "ingress" not in deny["spec"] and "egress" not in deny["spec"]
    for deployment in by_kind(objects, "Deployment").values():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items()


def test_monitors_select_services_by_port_name(overlay: tuple[str, list[dict[str, Any]]]) -> None:
    services = by_kind(overlay[1], "Service").values()
    scraped = set()
    for monitor in by_kind(overlay[1], "ServiceMonitor").values():
        selector = monitor["spec"]["selector"]
        for service in services:
            name = service["metadata"]["labels"]["app.kubernetes.io/name"]
            wanted = selector.get("matchLabels", {}).get("app.kubernetes.io/name")
            expressions = selector.get("matchExpressions", [])
            if name == wanted or any(name in expression["values"] for expression in expressions):
                ports = {port["name"] for port in service["spec"]["ports"]}
                assert {endpoint["port"] for endpoint in monitor["spec"]["endpoints"]} <= ports
                scraped.add(name)
    assert scraped == SERVICES[overlay[0]]


def test_prod_runs_under_production_rules_and_dev_does_not(overlay: tuple[str, list[dict[str, Any]]]) -> None:
    """Production (VOICECHAT_ENV=production) makes the gateway refuse to start without an auth secret and an
    origin allow-list: prod sets both, from its config and a Secret; dev keeps the development defaults."""
    name, objects = overlay
    config = by_kind(objects, "ConfigMap")
    (data,) = [c["data"] for key, c in config.items() if key.startswith("voicechat-config")]
    gateway = by_kind(objects, "Deployment")["gateway"]["spec"]["template"]["spec"]["containers"][0]
    secret = next(item for item in gateway["env"] if item["name"] == "VOICECHAT_AUTH_SECRET")
    assert secret["valueFrom"]["secretKeyRef"]["name"].startswith("voicechat-secrets")
    assert data.get("VOICECHAT_ENV", "development") == ("production" if name == "prod" else "development")
    assert "VOICECHAT_ALLOW_QUERY_CREDENTIALS" not in data
    if name == "prod":
        assert data["VOICECHAT_ALLOWED_ORIGINS"].startswith("https://")
