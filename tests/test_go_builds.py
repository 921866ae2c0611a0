"""scripts/build-prometheus.sh and scripts/build-jaeger.sh (through scripts/go-build-cached.sh).

The binaries themselves are exercised by the stack tests; these check the cache contract:
a cached build is reused without Go, the recipe is the key, a missing Go fails loudly.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from stack_builds import SCRIPTS, jaeger_binary, prometheus3_binary, promtool3_binary

pytestmark = pytest.mark.e2e


def run(script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPTS / script)],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("script", "binary"),
    [("build-prometheus.sh", prometheus3_binary), ("build-jaeger.sh", jaeger_binary)],
)
def test_cached_build_is_reused_without_go(script: str, binary: Callable[[], Path]) -> None:
    built = binary()  # builds it once if the cache is cold
    result = run(script, {"GO": "/nonexistent/go", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [str(built)]
    assert "cached build" in result.stderr
    recipe = (Path(result.stdout.strip()).parent / "recipe.txt").read_text()
    assert "trimpath=1" in recipe
    assert "ldflags=-s -w" in recipe


@pytest.mark.parametrize("script", ["build-prometheus.sh", "build-jaeger.sh"])
def test_build_fails_loudly_without_go(tmp_path: Path, script: str) -> None:
    result = run(script, {"AZORA_CACHE_DIR": str(tmp_path), "GO": "/nonexistent/go"})
    assert result.returncode != 0
    assert result.stdout == ""
    assert "Go is required" in result.stderr


def test_another_version_is_another_cache_entry(tmp_path: Path) -> None:
    """The module version is part of the key: a cache holding 3.16.0 does not answer for
    another version (which then needs Go, absent here)."""
    cached = prometheus3_binary().parent
    result = run(
        "build-prometheus.sh",
        {
            "AZORA_CACHE_DIR": str(cached.parent),
            "AZORA_PROMETHEUS3_VERSION": "v0.315.1",
            "GO": "/nonexistent/go",
            "PATH": "/usr/bin:/bin",
        },
    )
    assert result.returncode != 0
    assert "Go is required" in result.stderr


def test_prometheus3_says_its_version() -> None:
    for binary in (prometheus3_binary(), promtool3_binary()):
        out = subprocess.run(
            [str(binary), "--version"], capture_output=True, text=True, timeout=60, check=True
        )
        first = (out.stdout + out.stderr).splitlines()[0]
        assert first.startswith(f"{binary.name}, version 3.16.0 "), first
