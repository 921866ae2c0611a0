"""``azora-otel check-config`` and the exporter selection it reports."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

from azora_otel import Settings
from azora_otel._exposition import ExactNamePrometheusReader
from azora_otel._providers import build_metric_readers

CLI = str(Path(sys.executable).parent / "azora-otel")


def check_config(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PERF_", "AZORA_", "OTEL_"))}
    return subprocess.run(
        [CLI, "check-config"],
        capture_output=True,
        text=True,
        env={**clean, **env},
        timeout=60,
        check=False,
    )


def test_check_config_passes_a_good_environment() -> None:
    result = check_config({"PERF_API_LATENCY_MS": "250", "OTEL_METRICS_EXPORTER": "otlp"})
    assert result.returncode == 0, result.stderr
    assert "api_latency_ms             250.0" in result.stdout
    assert "metrics_exporters          ('otlp',)" in result.stdout
    assert result.stderr == ""


def test_check_config_refuses_a_bad_value_and_names_it() -> None:
    result = check_config({"PERF_ERROR_RATE": "5%", "PERF_DB_QUERY_MS": "-3"})
    assert result.returncode == 1
    assert "invalid PERF_ERROR_RATE='5%'" in result.stderr
    assert "invalid PERF_DB_QUERY_MS='-3'" in result.stderr


def test_cli_without_a_command_prints_help() -> None:
    result = subprocess.run([CLI], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert "check-config" in result.stderr
    assert "render" in result.stderr
    assert "budget" in result.stderr


def test_prometheus_and_otlp_at_once_build_both_readers() -> None:
    settings = Settings.from_env({"OTEL_METRICS_EXPORTER": "prometheus,otlp"})
    readers, prometheus = build_metric_readers(settings)
    try:
        assert isinstance(prometheus, ExactNamePrometheusReader)
        assert [type(r) for r in readers] == [
            ExactNamePrometheusReader,
            PeriodicExportingMetricReader,
        ]
        periodic = readers[1]
        assert periodic._export_interval_millis == 10_000  # the distro's default push interval
    finally:
        for reader in readers:
            reader.shutdown()


def test_otlp_only_has_no_in_process_exposition() -> None:
    readers, prometheus = build_metric_readers(Settings.from_env({"OTEL_METRICS_EXPORTER": "otlp"}))
    try:
        assert prometheus is None
        assert [type(r) for r in readers] == [PeriodicExportingMetricReader]
    finally:
        for reader in readers:
            reader.shutdown()
