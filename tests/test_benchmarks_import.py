"""Every benchmark script imports: a helper moved elsewhere must not break ``nox -s bench``,
which runs only when someone measures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.mark.parametrize("script", sorted(p.stem for p in BENCHMARKS.glob("*.py")))
def test_benchmark_module_imports(script: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", f"import {script}"],
        cwd=BENCHMARKS,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
