"""The parts of the stack beyond Debian's Prometheus: Prometheus 3 receiving OTLP, Jaeger,
exemplars, and a PostgreSQL-backed service (tests/apps/stack_app.py) under the launcher.

Like tests/stack.py: real processes on free 127.0.0.1 ports, logs in the caller's
directory, ``StackError`` (a failure, never a skip) when something is missing.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import time
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import stack
import yaml
from stack_builds import jaeger_binary, prometheus3_binary

APPS_DIR = Path(__file__).parent / "apps"
BIN_DIR = Path(sys.executable).parent
PROMETHEUS_OTLP_CONFIG = stack.ALERTS_DIR / "prometheus-otlp.yml"
ALERT_RULES = stack.ALERTS_DIR / "alert-rules.yml"
JAEGER_CONFIG = stack.REPO_ROOT / "jaeger" / "config.yaml"
TRACES_TO_JAEGER = stack.COLLECTOR_DIR / "traces-to-jaeger.yaml"

# What the docs tell users to pass to Prometheus 3 with alerts/prometheus-otlp.yml.
PROMETHEUS3_FLAGS = ("--web.enable-otlp-receiver", "--enable-feature=exemplar-storage")


# -- Prometheus 3 with the shipped OTLP config -----------------------------------


def prometheus3_config(
    *, rule_files: Sequence[Path], alertmanager: str | None, evaluation_interval: str = "1s"
) -> dict[str, Any]:
    """alerts/prometheus-otlp.yml as shipped, with test timings, rules and Alertmanager."""
    config: dict[str, Any] = yaml.safe_load(PROMETHEUS_OTLP_CONFIG.read_text())
    config["global"]["evaluation_interval"] = evaluation_interval
    config["rule_files"] = [str(path) for path in rule_files]
    if alertmanager is None:
        config.pop("alerting", None)
    else:
        config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] = [alertmanager]
    return config


@contextlib.contextmanager
def run_prometheus3(
    work_dir: Path,
    *,
    rule_files: Sequence[Path] = (),
    alertmanager: str | None = None,
    config: Mapping[str, Any] | None = None,
) -> Iterator[stack.Prometheus]:
    """Prometheus 3 with the OTLP receiver and exemplar storage, as docs/stack.md runs it."""
    if config is None:
        config = prometheus3_config(rule_files=rule_files, alertmanager=alertmanager)
    with stack.run_prometheus(
        work_dir, binary=prometheus3_binary(), config=config, extra_args=PROMETHEUS3_FLAGS
    ) as prometheus:
        yield prometheus


def otlp_metrics_url(prometheus: stack.Prometheus) -> str:
    """``OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`` for a Prometheus 3 with the OTLP receiver."""
    return f"{prometheus.url}/api/v1/otlp/v1/metrics"


def api_get(url: str, path: str, params: Mapping[str, str] | None = None) -> Any:
    """GET a JSON API; raises ``StackError`` on a non-200 answer."""
    full = f"{url.rstrip('/')}{path}"
    if params:
        full += "?" + urllib.parse.urlencode(params)
    status, body = stack.http_get(full, timeout=10)
    if status != 200:
        raise stack.StackError(f"GET {full}: HTTP {status}: {body[:300]!r}")
    return json.loads(body)


def loaded_rules(prometheus_url: str) -> dict[str, list[str]]:
    """``/api/v1/rules``: group name -> names of its rules (``alert`` or ``record``)."""
    groups = api_get(prometheus_url, "/api/v1/rules")["data"]["groups"]
    return {g["name"]: [r["name"] for r in g["rules"]] for g in groups}


def query_exemplars(prometheus_url: str, query: str, since_s: float = 600) -> list[dict[str, Any]]:
    """``/api/v1/query_exemplars`` over the last ``since_s`` seconds, one entry per exemplar:
    ``{"series": {...labels...}, "labels": {"trace_id": ..., ...}, "value": float}``."""
    now = time.time()
    params = {"query": query, "start": f"{now - since_s:.3f}", "end": f"{now + 60:.3f}"}
    data = api_get(prometheus_url, "/api/v1/query_exemplars", params)["data"]
    return [
        {"series": entry["seriesLabels"], "labels": ex["labels"], "value": float(ex["value"])}
        for entry in data
        for ex in entry["exemplars"]
    ]


# -- Jaeger ----------------------------------------------------------------------


@dataclass(frozen=True)
class JaegerPorts:
    otlp_grpc: int
    otlp_http: int
    query: int
    query_grpc: int
    health: int
    telemetry: int

    @classmethod
    def pick(cls) -> JaegerPorts:
        return cls(*(stack.free_port() for _ in range(6)))

    def environ(self) -> dict[str, str]:
        """The variables jaeger/config.yaml reads its listeners from."""
        host = stack.HOST
        return {
            "AZORA_JAEGER_OTLP_ENDPOINT": f"{host}:{self.otlp_grpc}",
            "AZORA_JAEGER_OTLP_HTTP_ENDPOINT": f"{host}:{self.otlp_http}",
            "AZORA_JAEGER_QUERY_ENDPOINT": f"{host}:{self.query}",
            "AZORA_JAEGER_QUERY_GRPC_ENDPOINT": f"{host}:{self.query_grpc}",
            "AZORA_JAEGER_HEALTH_ENDPOINT": f"{host}:{self.health}",
            "AZORA_JAEGER_TELEMETRY_PORT": str(self.telemetry),
        }


@dataclass
class Jaeger:
    process: stack.ManagedProcess
    ports: JaegerPorts

    @property
    def query_url(self) -> str:
        return f"http://{stack.HOST}:{self.ports.query}"

    @property
    def otlp_grpc_endpoint(self) -> str:
        """``host:port`` for the Collector's ``AZORA_JAEGER_OTLP_ENDPOINT``."""
        return f"{stack.HOST}:{self.ports.otlp_grpc}"

    @property
    def otlp_http_traces_url(self) -> str:
        """``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` for a service sending spans directly."""
        return f"http://{stack.HOST}:{self.ports.otlp_http}/v1/traces"

    def trace(self, trace_id: str) -> list[dict[str, Any]] | None:
        """The spans of ``trace_id`` from the query API, ``None`` while it is unknown."""
        status, body = stack.http_get(f"{self.query_url}/api/traces/{trace_id}", timeout=10)
        if status == 404:
            return None
        if status != 200:
            raise self.process.failure(f"/api/traces/{trace_id} answered HTTP {status}: {body!r}")
        data = json.loads(body).get("data") or []
        return [span for trace in data for span in trace["spans"]] or None


@contextlib.contextmanager
def run_jaeger(log_dir: Path, timeout: float = 60.0) -> Iterator[Jaeger]:
    """Jaeger v2 with jaeger/config.yaml on free ports; ready when its query API answers."""
    ports = JaegerPorts.pick()
    args = [str(jaeger_binary()), f"--config={JAEGER_CONFIG}"]
    process = stack.start_process("jaeger", args, log_dir, env=ports.environ())
    try:
        stack.wait_until_ready(process, f"http://{stack.HOST}:{ports.query}/api/services", timeout)
        stack.wait_for_port(process, ports.otlp_grpc, timeout)
        yield Jaeger(process=process, ports=ports)
    finally:
        process.stop()


def span_tags(span: dict[str, Any]) -> dict[str, Any]:
    """A Jaeger API span's tags as a dict."""
    return {tag["key"]: tag["value"] for tag in span.get("tags", [])}


# -- the orders service (tests/apps/stack_app.py) ----------------------------------


@dataclass
class Service:
    process: stack.ManagedProcess
    port: int

    @property
    def url(self) -> str:
        return f"http://{stack.HOST}:{self.port}"

    def records(self, event: str) -> list[dict[str, Any]]:
        """The JSON log records of ``event`` the service wrote so far (AZORA_LOG_FORMAT=json)."""
        found = []
        for line in self.process.log_path.read_text(errors="replace").splitlines():
            if line.startswith("{") and f'"event":"{event}"' in line:
                found.append(json.loads(line))
        return found


def launcher() -> str:
    found = shutil.which("azora-otel-instrument", path=f"{BIN_DIR}{os.pathsep}{os.environ['PATH']}")
    if not found:
        raise stack.StackError("azora-otel-instrument is not installed here: pip install -e .")
    return found


@contextlib.contextmanager
def run_service(
    work_dir: Path, name: str, database_url: str, env: Mapping[str, str]
) -> Iterator[Service]:
    """uvicorn serving tests/apps/stack_app.py under azora-otel-instrument, JSON logs."""
    port = stack.free_port()
    command = [
        launcher(),
        "uvicorn",
        "stack_app:app",
        "--app-dir",
        str(APPS_DIR),
        "--host",
        stack.HOST,
        "--port",
        str(port),
        "--no-access-log",
    ]
    environ = {
        "PATH": f"{BIN_DIR}{os.pathsep}{os.environ['PATH']}",
        "DATABASE_URL": database_url,
        "OTEL_SERVICE_NAME": name,
        "OTEL_METRIC_EXPORT_INTERVAL": "1000",
        "AZORA_LOG_FORMAT": "json",
        **env,
    }
    stack.say(f"starting {name} ({' '.join(f'{k}={v}' for k, v in env.items())})")
    process = stack.start_process(name, command, work_dir, env=environ)
    try:
        stack.wait_for_port(process, port, timeout=90)
        yield Service(process=process, port=port)
    finally:
        process.stop(timeout=30)
