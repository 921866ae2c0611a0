"""scripts/install-system-deps.sh run as docs/stack.md says: ``bash scripts/...``.

The documented command used to be ``sudo bash ...``, which fails on a root machine without
sudo. The script calls sudo itself, and only when it is not root; here a ``sudo`` that
always fails is first on PATH, so the run proves that no step of an up-to-date machine
needs it (the packages are installed by ``make test`` before the tests run).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "install-system-deps.sh"


def test_documented_command_needs_no_sudo_when_nothing_is_missing(tmp_path: Path) -> None:
    stub = tmp_path / "sudo"
    stub.write_text("#!/bin/sh\necho 'sudo called' >&2\nexit 97\n")
    stub.chmod(0o755)
    result = subprocess.run(
        ["bash", str(SCRIPT)],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}"},
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "sudo called" not in result.stderr
    assert "nothing to install" in result.stdout
    for binary in ("prometheus", "promtool", "prometheus-alertmanager", "amtool"):
        assert f"{binary}: /" in result.stdout


def test_documented_command_is_plain_bash() -> None:
    """No document tells users to prefix the script with sudo."""
    repo = SCRIPT.parents[1]
    documents = [repo / "README.md", *sorted((repo / "docs").glob("*.md"))]
    offenders = [
        f"{path.name}: {line.strip()}"
        for path in documents
        for line in path.read_text().splitlines()
        if "install-system-deps.sh" in line and line.lstrip().startswith("sudo ")
    ]
    assert offenders == []
