"""The layout rule, read from the imports of every module: services meet only on the bus.

A program package (each service, the local agent, the terminal client, the conversation log CLI) imports only
itself and `shared`; `shared` imports no program; the tooling (`chaos`, `bench`, `harness`, `deploy`) imports no
test code.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROGRAMS = ("gateway", "vad_worker", "dialog_worker", "tools_worker", "local_agent", "voice_client", "convlog")
TOOLING = ("chaos", "bench", "harness", "deploy")
FIRST_PARTY = (*PROGRAMS, *TOOLING, "shared", "tests")


def imported_packages(path: Path) -> set[str]:
    """The first-party top-level packages `path` imports (absolute imports; relative ones stay inside)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found.update(name.split(".")[0] for name in names if name.split(".")[0] in FIRST_PARTY)
    return found


def modules(package: str) -> list[Path]:
    return sorted(path for path in (ROOT / package).rglob("*.py") if "peer" not in path.parts)


def allowed(package: str) -> set[str]:
    if package in PROGRAMS:
        return {package, "shared"}
    if package == "shared":
        return {"shared"}
    return set(FIRST_PARTY) - {"tests"}


@pytest.mark.parametrize("package", [*PROGRAMS, "shared", *TOOLING])
def test_package_imports_follow_the_layout(package: str) -> None:
    assert modules(package), f"{package} has no modules"
    wrong = {
        str(path.relative_to(ROOT)): sorted(imported_packages(path) - allowed(package)) for path in modules(package)
    }
    assert {path: names for path, names in wrong.items() if names} == {}


def test_the_rule_sees_an_import_across_services(tmp_path: Path) -> None:
    module = tmp_path / "cx_turn.py"
    module.write_text("import asyncio\nfrom tools_worker.client import call_tool\nfrom shared import subjects\n")
    assert imported_packages(module) - allowed("dialog_worker") == {"tools_worker"}
