"""``azora-otel-instrument`` as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from azora_otel._launcher import prepare_environment
from azora_otel._version import __version__

BIN = Path(sys.executable).parent


def run(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "azora-otel-instrument"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        check=False,
    )


def test_help() -> None:
    result = run("--help")
    assert result.returncode == 0
    assert "usage: azora-otel-instrument" in result.stdout
    assert "PERF_API_LATENCY_MS" in result.stdout


def test_no_arguments_is_a_usage_error() -> None:
    result = run()
    assert result.returncode == 2
    assert "usage:" in result.stdout


def test_version_names_ours_and_the_sdk() -> None:
    from opentelemetry.sdk.version import __version__ as sdk

    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"azora-otel-instrument {__version__} (opentelemetry-sdk {sdk})"


def test_unknown_command() -> None:
    result = run("no-such-command-azora")
    assert result.returncode == 127
    assert "command not found: no-such-command-azora" in result.stderr


def test_unknown_option() -> None:
    result = run("--frobnicate", "python")
    assert result.returncode == 2
    assert "unknown option '--frobnicate'" in result.stderr


def test_arguments_after_the_command_belong_to_the_command() -> None:
    result = run(sys.executable, "-c", "import sys; print(sys.argv[1:])", "--help", "x")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "['--help', 'x']"


def test_boots_our_distro_even_with_opentelemetry_distro_installed() -> None:
    from importlib.metadata import entry_points

    names = {ep.name for ep in entry_points(group="opentelemetry_distro")}
    assert "azora" in names
    assert "distro" in names  # opentelemetry-distro is a test dependency for this reason
    code = (
        "from azora_otel import _state; t = _state.get_or_rebuild(); "
        "print('booted', t is not None and t.settings.api_latency_ms)"
    )
    result = run(sys.executable, "-c", code, env={"PERF_API_LATENCY_MS": "150"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "booted 150.0"
    assert "event=started" in result.stderr
    # selecting our configurator over opentelemetry-distro's is intended: no warning about it
    assert "Configuration of" not in result.stderr


def test_bad_values_are_reported_and_the_command_still_runs() -> None:
    result = run(sys.executable, "-c", "print('still running')", env={"PERF_ERROR_RATE": "abc"})
    assert result.returncode == 0
    assert "still running" in result.stdout
    assert "invalid PERF_ERROR_RATE='abc'" in result.stderr
    assert "between 0 and 1" in result.stderr


def test_user_disabled_instrumentations_are_given_back_to_the_app() -> None:
    code = "import os; print(os.environ.get('OTEL_PYTHON_DISABLED_INSTRUMENTATIONS'))"
    result = run(
        sys.executable, "-c", code, env={"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "requests"}
    )
    assert result.stdout.strip().splitlines()[-1] == "requests"
    assert "falls outside of that range" not in result.stderr


def test_sdk_disabled_boots_nothing() -> None:
    code = "from azora_otel import _state; print(_state.get_or_rebuild())"
    result = run(sys.executable, "-c", code, env={"OTEL_SDK_DISABLED": "true"})
    assert result.stdout.strip().splitlines()[-1] == "None"


def test_prepare_environment_puts_sitecustomize_first_and_keeps_the_users_path(
    tmp_path: Path,
) -> None:
    env = {"PYTHONPATH": f"/a{os.pathsep}/b"}
    prepare_environment(env, str(tmp_path))
    parts = env["PYTHONPATH"].split(os.pathsep)
    assert parts[0].endswith("auto_instrumentation")
    assert parts[1:] == [str(tmp_path), "/a", "/b"]
    assert env["OTEL_PYTHON_DISTRO"] == "azora"
    assert env["OTEL_PYTHON_CONFIGURATOR"] == "azora"
    prepare_environment(env, str(tmp_path))  # idempotent
    assert env["PYTHONPATH"].split(os.pathsep) == parts


def test_configure_twice_returns_the_first_distro() -> None:
    code = (
        "import azora_otel\n"
        "first = azora_otel.configure(environ={'PERF_API_LATENCY_MS': '120'})\n"
        "second = azora_otel.configure(environ={'PERF_API_LATENCY_MS': '999'})\n"
        "print(first is second, second.settings.api_latency_ms)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True 120.0"
    assert "Overriding" not in result.stderr  # the OpenTelemetry globals were set once


def test_disabled_fastapi_instrumentation_is_respected() -> None:
    code = (
        "from fastapi import FastAPI; import azora_otel._fastapi as f;"
        "print(getattr(FastAPI, f._PATCHED, False))"
    )
    enabled = run(sys.executable, "-c", code)
    disabled = run(
        sys.executable, "-c", code, env={"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "fastapi"}
    )
    assert enabled.stdout.strip().splitlines()[-1] == "True"
    assert disabled.stdout.strip().splitlines()[-1] == "False"
