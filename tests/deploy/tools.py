"""Shared helpers for deployment tests: external binaries, rendered overlays, PromQL metric names."""

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.support.ci import missing_tool

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("dev", "prod")

_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset"}


def binary(name: str) -> str:
    """Path of an external tool: beside the venv's python, else on PATH; skipped outside CI, a failure in CI."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        missing_tool(f"{name} not found (see docs/deploy.md for the packages CI installs)")
    return found


def render(overlay: str) -> list[dict[str, Any]]:
    """`kubectl kustomize` of an overlay (offline), as a list of objects."""
    out = subprocess.run(
        [binary("kubectl"), "kustomize", str(K8S / "overlays" / overlay)], check=True, capture_output=True, text=True
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def rules_spec() -> dict[str, Any]:
    """The PrometheusRule's spec: a plain Prometheus rules file."""
    (rule,) = yaml.safe_load_all((K8S / "base" / "prometheus-rules.yaml").read_text())
    spec: dict[str, Any] = rule["spec"]
    return spec


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (label matchers, ranges, strings and grouping clauses removed)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    text = re.sub(r"\{[^}]*\}|\[[^\]]*\]", "", text)
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    names = set()
    for match in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", text):
        rest = text[match.end() :].lstrip()
        if match.group() not in _KEYWORDS and not rest.startswith("("):
            names.add(match.group())
    return names
