"""The Dockerfile passes hadolint, and the image holds exactly the service packages and the locked dependencies."""

import re
import subprocess

from tests.deploy.tools import ROOT, binary

PACKAGES = ("shared", "gateway", "vad_worker", "dialog_worker", "tools_worker", "convlog")


def test_hadolint_passes() -> None:
    dockerfile = ROOT / "Dockerfile"
    result = subprocess.run(
        [binary("hadolint"), "--failure-threshold", "info", str(dockerfile)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_image_installs_from_the_lock_and_runs_as_non_root() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "--require-hashes" in text and "-r requirements-runtime.lock" in text
    assert re.search(r"^FROM \S+ AS build$", text, re.M) and re.search(r"^FROM \S+ AS runtime$", text, re.M)
    assert re.search(r"^USER [1-9][0-9]*:[1-9][0-9]*$", text, re.M)
    assert 'ENTRYPOINT ["python", "-m"]' in text


def test_every_service_package_is_copied_and_not_ignored() -> None:
    text = (ROOT / "Dockerfile").read_text()
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    for package in PACKAGES:
        assert (ROOT / package).is_dir()
        assert f"COPY {package}/ app/{package}/" in text
        assert f"!{package}/" in ignore
