"""The bundled Collector (collector/) and the Prometheus/Alertmanager configs (alerts/).

These tests run the real otelcol-azora binary (built by collector/build.sh on
first use), the real Prometheus and promtool/amtool. Nothing is mocked: the
point is the exact exposition the real exporter produces from real OTLP.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import stack
import yaml
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.e2e

HTTP_BUCKETS = (10.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0)
DB_BUCKETS = (5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0)
ROUTE = {"method": "GET", "route": "/items/{item_id}", "status_code": "200"}
SLOW_ROUTE = {"method": "GET", "route": "/items/{item_id}"}
QUERY = {"operation": "select", "model": "Item"}

# Durations chosen to hit boundaries (10 is in le="10": buckets are upper-inclusive)
# and the +Inf bucket.
HTTP_DURATIONS = (10.0, 30.0, 30.0, 150.0, 700.0, 6000.0)
DB_DURATIONS = (5.0, 7.0, 60.0, 2000.0)

# Prometheus name -> (type, label keys without job/instance). The parser names a
# counter family without its `_total`; the sample keeps the full name.
EXPECTED_FAMILIES = {
    "http_request_duration_ms": ("histogram", {"method", "route", "status_code"}),
    "http_requests": ("counter", {"method", "route", "status_code"}),
    "http_error_rate": ("gauge", {"service"}),
    "slow_requests": ("counter", {"method", "route"}),
    "db_query_duration_ms": ("histogram", {"operation", "model"}),
    "db_queries": ("counter", {"operation", "model", "status"}),
    "slow_queries": ("counter", {"operation", "model"}),
}


def push_seed_metrics(otlp_http_url: str, service: str, instance: str) -> None:
    """Record a fixed set of the seed's metrics and push them once over OTLP/HTTP.

    Units are the ones the distro uses (ms for durations, 1 for the gauge) plus
    `{request}`/`{query}` annotations on two counters: the names must come out
    unchanged whatever the unit.
    """
    exporter = OTLPMetricExporter(endpoint=f"{otlp_http_url}/v1/metrics", timeout=10)
    # A long interval: the only exports are the explicit flush and the shutdown.
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    provider = MeterProvider(
        resource=Resource.create({"service.name": service, "service.instance.id": instance}),
        metric_readers=[reader],
    )
    try:
        meter = provider.get_meter("azora_otel.tests")
        duration = meter.create_histogram(
            "http_request_duration_ms", unit="ms", explicit_bucket_boundaries_advisory=HTTP_BUCKETS
        )
        requests = meter.create_counter("http_requests_total", unit="{request}")
        error_rate = meter.create_gauge("http_error_rate", unit="1")
        slow_requests = meter.create_counter("slow_requests_total", unit="1")
        query_duration = meter.create_histogram(
            "db_query_duration_ms", unit="ms", explicit_bucket_boundaries_advisory=DB_BUCKETS
        )
        queries = meter.create_counter("db_queries_total", unit="{query}")
        slow_queries = meter.create_counter("slow_queries_total", unit="1")

        for value in HTTP_DURATIONS:
            duration.record(value, ROUTE)
            requests.add(1, ROUTE)
        requests.add(2, {**ROUTE, "status_code": "500"})
        slow_requests.add(2, SLOW_ROUTE)
        error_rate.set(0.25, {"service": service})
        for value in DB_DURATIONS:
            query_duration.record(value, QUERY)
        queries.add(4, {**QUERY, "status": "success"})
        queries.add(1, {**QUERY, "status": "error"})
        slow_queries.add(1, QUERY)
        assert provider.force_flush(10_000), "OTLP export to the collector did not finish"
    finally:
        provider.shutdown()


def cumulative(bounds: tuple[float, ...], values: tuple[float, ...]) -> dict[float, int]:
    counts = {bound: sum(1 for v in values if v <= bound) for bound in bounds}
    counts[math.inf] = len(values)
    return counts


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[stack.Collector]:
    with stack.run_collector(tmp_path / "collector") as running:
        yield running


# -- build.sh -------------------------------------------------------------------

BUILD_SH = stack.COLLECTOR_DIR / "build.sh"
TRACES_TO_JAEGER = stack.COLLECTOR_DIR / "traces-to-jaeger.yaml"


def run_build_sh(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(BUILD_SH)],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
        check=False,
    )


def test_build_sh_reuses_the_binary_cached_under_the_manifest_hash(tmp_path: Path) -> None:
    """A binary in <cache>/otelcol-azora-<sha256[:12] of the manifest>/ is used as is."""
    digest = hashlib.sha256((stack.COLLECTOR_DIR / "builder-config.yaml").read_bytes())
    cached = tmp_path / f"otelcol-azora-{digest.hexdigest()[:12]}" / "otelcol-azora"
    cached.parent.mkdir()
    shutil.copy2(stack.collector_binary(), cached)
    # GO points nowhere: a cache hit must not need Go at all.
    result = run_build_sh({"AZORA_CACHE_DIR": str(tmp_path), "GO": "/nonexistent/go"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == str(cached)
    assert "cached build" in result.stderr


def test_build_sh_fails_loudly_without_go(tmp_path: Path) -> None:
    result = run_build_sh({"AZORA_CACHE_DIR": str(tmp_path), "GO": "/nonexistent/go"})
    assert result.returncode != 0
    assert result.stdout == ""
    assert "Go is required" in result.stderr


# -- validate -----------------------------------------------------------------


def test_validate_accepts_the_default_config() -> None:
    result = stack.validate_collector_config([stack.COLLECTOR_CONFIG])
    assert result.returncode == 0, result.stderr


def test_validate_accepts_config_with_remote_write_overlay() -> None:
    result = stack.validate_collector_config(
        [stack.COLLECTOR_CONFIG, stack.REMOTE_WRITE_OVERLAY],
        env={"AZORA_REMOTE_WRITE_URL": "http://127.0.0.1:9/api/v1/write"},
    )
    assert result.returncode == 0, result.stderr


def test_remote_write_overlay_requires_its_url() -> None:
    """Without AZORA_REMOTE_WRITE_URL the overlay must not pass silently."""
    result = stack.validate_collector_config(
        [stack.COLLECTOR_CONFIG, stack.REMOTE_WRITE_OVERLAY], env={"AZORA_REMOTE_WRITE_URL": ""}
    )
    assert result.returncode != 0
    assert "endpoint" in result.stderr


def test_validate_accepts_config_with_traces_to_jaeger_overlay() -> None:
    result = stack.validate_collector_config([stack.COLLECTOR_CONFIG, TRACES_TO_JAEGER])
    assert result.returncode == 0, result.stderr


# A peer that is not running in these tests (Jaeger): gRPC logs its failed dials at warn.
_UNREACHABLE_PEER = re.compile(r'"grpc_log": true|Exporting failed\. Will retry')


@pytest.mark.parametrize(
    "overlays",
    [
        pytest.param((), id="config"),
        pytest.param(("remote-write.yaml",), id="remote-write"),
        pytest.param(("traces-to-jaeger.yaml",), id="traces-to-jaeger"),
    ],
)
def test_collector_starts_without_warnings(tmp_path: Path, overlays: tuple[str, ...]) -> None:
    """No deprecated setting, no warning at all, in any shipped config combination.

    (The remote-write overlay's `remote_write_queue.num_consumers: 4` logged that its
    meaning is about to change.)"""
    configs = (stack.COLLECTOR_CONFIG, *(stack.COLLECTOR_DIR / name for name in overlays))
    env = {
        "AZORA_REMOTE_WRITE_URL": f"http://127.0.0.1:{stack.free_port()}/api/v1/write",
        "AZORA_JAEGER_OTLP_ENDPOINT": f"127.0.0.1:{stack.free_port()}",
    }
    with stack.run_collector(tmp_path, configs=configs, env=env) as collector:
        # Every component has logged its start-up by the time the health check answers;
        # give the exporters' own start a moment more.
        time.sleep(2)
        log = collector.process.log_path.read_text(errors="replace")
    problems = [
        line
        for line in log.splitlines()
        if ("\twarn\t" in line or "\terror\t" in line or "deprecat" in line.lower())
        and not _UNREACHABLE_PEER.search(line)
    ]
    assert problems == []
    assert "Everything is ready" in log


def test_every_listener_defaults_to_loopback() -> None:
    """Each endpoint is `${env:VAR:-127.0.0.1:PORT}`: nothing listens publicly by default."""
    text = stack.COLLECTOR_CONFIG.read_text()
    defaults = dict(re.findall(r"\$\{env:(AZORA_[A-Z_]+_ENDPOINT):-([^}]*)\}", text))
    assert defaults == {
        "AZORA_OTLP_GRPC_ENDPOINT": "127.0.0.1:4317",
        "AZORA_OTLP_HTTP_ENDPOINT": "127.0.0.1:4318",
        "AZORA_PROMETHEUS_ENDPOINT": "127.0.0.1:8889",
        "AZORA_HEALTH_CHECK_ENDPOINT": "127.0.0.1:13133",
    }


# -- the exposition -----------------------------------------------------------


def test_exposition_has_the_exact_seed_names_labels_and_buckets(
    collector: stack.Collector,
) -> None:
    push_seed_metrics(collector.otlp_http_url, service="checkout", instance="checkout-1")

    def exported() -> bool:
        return "http_requests_total{" in collector.scrape()

    stack.wait_for(exported, 15, "the pushed metrics on the collector's /metrics")
    families = {f.name: f for f in text_string_to_metric_families(collector.scrape())}

    # Exactly the seed's metrics, plus target_info (resource attributes).
    assert set(families) == {*EXPECTED_FAMILIES, "target_info"}
    for name, (kind, labels) in EXPECTED_FAMILIES.items():
        family = families[name]
        assert family.type == kind, name
        for sample in family.samples:
            extra = {"le"} if sample.name.endswith("_bucket") else set()
            assert set(sample.labels) == labels | extra | {"job", "instance"}, sample
            assert sample.labels["job"] == "checkout"
            assert sample.labels["instance"] == "checkout-1"

    text = collector.scrape()
    assert "otel_scope" not in text
    assert "_milliseconds" not in text
    assert "_ratio" not in text

    def values(family: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        return {
            (
                s.name,
                tuple(sorted((k, v) for k, v in s.labels.items() if k not in {"job", "instance"})),
            ): s.value
            for s in families[family].samples
        }

    route = tuple(sorted(ROUTE.items()))
    http = values("http_request_duration_ms")
    for bound, count in cumulative(HTTP_BUCKETS, HTTP_DURATIONS).items():
        le = "+Inf" if bound == math.inf else None
        matches = [
            v
            for (n, labels), v in http.items()
            if n == "http_request_duration_ms_bucket"
            and float(dict(labels)["le"]) == bound
            and (le is None or dict(labels)["le"] == le)
        ]
        assert matches == [count], (bound, matches)
    assert {float(dict(k[1])["le"]) for k in http if k[0].endswith("_bucket")} == {
        *HTTP_BUCKETS,
        math.inf,
    }
    assert http[("http_request_duration_ms_count", route)] == len(HTTP_DURATIONS)
    assert http[("http_request_duration_ms_sum", route)] == sum(HTTP_DURATIONS)

    query = tuple(sorted(QUERY.items()))
    db = values("db_query_duration_ms")
    for bound, count in cumulative(DB_BUCKETS, DB_DURATIONS).items():
        matches = [
            v
            for (n, labels), v in db.items()
            if n == "db_query_duration_ms_bucket" and float(dict(labels)["le"]) == bound
        ]
        assert matches == [count], (bound, matches)
    assert db[("db_query_duration_ms_count", query)] == len(DB_DURATIONS)
    assert db[("db_query_duration_ms_sum", query)] == sum(DB_DURATIONS)

    assert values("http_requests") == {
        ("http_requests_total", route): 6,
        ("http_requests_total", tuple(sorted({**ROUTE, "status_code": "500"}.items()))): 2,
    }
    assert values("slow_requests") == {
        ("slow_requests_total", tuple(sorted(SLOW_ROUTE.items()))): 2
    }
    assert values("http_error_rate") == {("http_error_rate", (("service", "checkout"),)): 0.25}
    assert values("db_queries") == {
        ("db_queries_total", tuple(sorted({**QUERY, "status": "success"}.items()))): 4,
        ("db_queries_total", tuple(sorted({**QUERY, "status": "error"}.items()))): 1,
    }
    assert values("slow_queries") == {("slow_queries_total", query): 1}

    (target_info,) = families["target_info"].samples
    assert target_info.labels["job"] == "checkout"
    assert target_info.labels["instance"] == "checkout-1"


def test_two_instances_become_two_instance_labels(collector: stack.Collector) -> None:
    push_seed_metrics(collector.otlp_http_url, service="checkout", instance="a")
    push_seed_metrics(collector.otlp_http_url, service="checkout", instance="b")

    def both() -> bool:
        text = collector.scrape()
        return 'instance="a"' in text and 'instance="b"' in text

    stack.wait_for(both, 15, "series from both instances")
    families = {f.name: f for f in text_string_to_metric_families(collector.scrape())}
    per_instance = {
        s.labels["instance"]: s.value
        for s in families["http_requests"].samples
        if s.labels["status_code"] == "200"
    }
    assert per_instance == {"a": 6, "b": 6}


# -- remote write -------------------------------------------------------------


def test_remote_write_overlay_delivers_exact_values_to_prometheus(tmp_path: Path) -> None:
    with stack.run_prometheus(tmp_path / "prometheus", remote_write_receiver=True) as prom:
        env = {"AZORA_REMOTE_WRITE_URL": prom.remote_write_url}
        configs = (stack.COLLECTOR_CONFIG, stack.REMOTE_WRITE_OVERLAY)
        with stack.run_collector(tmp_path / "collector", configs=configs, env=env) as collector:
            push_seed_metrics(collector.otlp_http_url, service="checkout", instance="rw-1")
            selector = '{job="checkout",instance="rw-1"}'
            stack.wait_for_promql(prom.url, f"sum(http_requests_total{selector})", 8, timeout=30)
            assert prom.query(f"http_requests_total{selector}") != []
            values = {
                r["metric"]["status_code"]: float(r["value"][1])
                for r in prom.query(f"http_requests_total{selector}")
            }
            assert values == {"200": 6.0, "500": 2.0}
            assert stack.promql_scalar(prom.url, f"http_request_duration_ms_count{selector}") == 6
            assert stack.promql_scalar(prom.url, f"http_request_duration_ms_sum{selector}") == sum(
                HTTP_DURATIONS
            )
            le_50 = 'http_request_duration_ms_bucket{job="checkout",le="50"}'
            assert stack.promql_scalar(prom.url, le_50) == 3
            assert stack.promql_scalar(prom.url, f"http_error_rate{selector}") == 0.25
            assert stack.promql_scalar(prom.url, f"sum(db_queries_total{selector})") == 5
            assert stack.promql_scalar(prom.url, f"slow_queries_total{selector}") == 1
            assert stack.promql_scalar(prom.url, f"slow_requests_total{selector}") == 2

            names = {r["metric"]["__name__"] for r in prom.query('{job="checkout"}')}
            assert names == {
                "http_request_duration_ms_bucket",
                "http_request_duration_ms_count",
                "http_request_duration_ms_sum",
                "http_requests_total",
                "http_error_rate",
                "slow_requests_total",
                "db_query_duration_ms_bucket",
                "db_query_duration_ms_count",
                "db_query_duration_ms_sum",
                "db_queries_total",
                "slow_queries_total",
                "target_info",
            }
            scoped = prom.query('{job="checkout", otel_scope_name!=""}')
            assert scoped == []


# -- Prometheus and Alertmanager configs ---------------------------------------


def test_promtool_accepts_alerts_prometheus_yml() -> None:
    result = subprocess.run(
        [str(stack.promtool_binary()), "check", "config", str(stack.ALERTS_DIR / "prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _promtool_check_config(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(stack.promtool_binary()), "check", "config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_prometheus_yml_copied_without_its_rules_fails_the_check(tmp_path: Path) -> None:
    """Copied elsewhere without alert-rules.yml, the config must not pass `promtool check
    config`: with the former relative glob it did, and Prometheus then ran without rules."""
    copy = tmp_path / "prometheus.yml"
    copy.write_text((stack.ALERTS_DIR / "prometheus.yml").read_text())
    result = _promtool_check_config(copy)
    assert result.returncode != 0, result.stdout + result.stderr
    assert "alert-rules.yml" in result.stdout + result.stderr


def test_prometheus_yml_copied_with_its_rules_loads_every_rule(tmp_path: Path) -> None:
    """The documented check (promtool's rule count), then the running server's /api/v1/rules."""
    rules_text = (stack.ALERTS_DIR / "alert-rules.yml").read_text()
    rule_count = sum(len(g["rules"]) for g in yaml.safe_load(rules_text)["groups"])
    copy = tmp_path / "prometheus.yml"
    copy.write_text((stack.ALERTS_DIR / "prometheus.yml").read_text())
    (tmp_path / "alert-rules.yml").write_text(rules_text)
    result = _promtool_check_config(copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {rule_count} rules found" in result.stdout

    # stack.run_prometheus writes the config into its work dir: the rules go next to it.
    work = tmp_path / "prometheus"
    work.mkdir()
    (work / "alert-rules.yml").write_text(rules_text)
    config = yaml.safe_load(copy.read_text())
    with stack.run_prometheus(work, config=config) as prometheus:
        status, body = stack.http_get(f"{prometheus.url}/api/v1/rules")
    assert status == 200
    groups = json.loads(body)["data"]["groups"]
    assert sum(len(g["rules"]) for g in groups) == rule_count
    assert {g["name"] for g in groups} == {
        "azora-otel.recording",
        "azora-otel.alerts",
        "azora-otel.slo",
    }


def test_amtool_accepts_alerts_alertmanager_yml() -> None:
    result = subprocess.run(
        [str(stack.amtool_binary()), "check-config", str(stack.ALERTMANAGER_TEMPLATE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_reaches_the_webhook_through_alertmanager(tmp_path: Path) -> None:
    """Prometheus -> Alertmanager (config from alerts/alertmanager.yml) -> webhook."""
    rules = tmp_path / "rules.yml"
    rules.write_text(
        "groups:\n"
        "  - name: stack-smoke\n"
        "    rules:\n"
        "      - alert: StackSmoke\n"
        "        expr: vector(1)\n"
        "        for: 1s\n"
        "        labels: {severity: warning}\n"
    )
    started = time.monotonic()
    with (
        stack.run_webhook_receiver() as webhook,
        stack.run_alertmanager(tmp_path / "am", webhook.url) as am,
        stack.run_prometheus(tmp_path / "prometheus", rule_files=[rules], alertmanager=am.address),
    ):
        alert = webhook.wait_for_alert("StackSmoke", timeout=45)
    assert alert["labels"]["severity"] == "warning"
    assert time.monotonic() - started < 45
