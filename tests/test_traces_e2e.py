"""The runbook's loop, end to end: a slow request -> its ``slow_request`` record's trace id
-> an exemplar on the latency bucket in Prometheus -> the trace, opened in Jaeger.

Two real paths, both with the orders service (tests/apps/stack_app.py) on a real
PostgreSQL under azora-otel-instrument:

- through the bundled Collector (collector/config.yaml + collector/traces-to-jaeger.yaml):
  metrics scraped by Debian's Prometheus 2.42 over OpenMetrics (exemplar storage on),
  traces exported to Jaeger v2 (jaeger/config.yaml, in-memory);
- without a Collector: metrics pushed to Prometheus 3's OTLP receiver, spans to Jaeger's
  OTLP/HTTP receiver.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import stack
import stack_otlp
from prometheus_client.openmetrics.parser import text_string_to_metric_families

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

REGION = "region-7f3a9c"  # a literal that must never show up in a statement
DELAY_MS = 400
SLOW_ROUTE = "/api/reports/{region}"
HTTP_BOUNDS = (10.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, float("inf"))


@dataclass
class TraceLoop:
    """What one slow request left behind: its record, and the service's name."""

    record: dict[str, Any]
    job: str


def slow_request(service: stack_otlp.Service) -> dict[str, Any]:
    """Send fast traffic and one slow report; return the ``slow_request`` record of the latter."""
    with httpx.Client(base_url=service.url, timeout=30) as client:
        for order_id in (1, 2):
            assert client.get(f"/api/orders/{order_id}").status_code == 200
        response = client.get(f"/api/reports/{REGION}", params={"delay_ms": DELAY_MS})
        assert response.status_code == 200, response.text

    def recorded() -> bool:
        return any(r["route"] == SLOW_ROUTE for r in service.records("slow_request"))

    stack.wait_for(recorded, 30, "the slow_request record on the service's stderr")
    (record,) = [r for r in service.records("slow_request") if r["route"] == SLOW_ROUTE]
    assert re.fullmatch(r"[0-9a-f]{32}", record["trace_id"]), record
    assert float(record["duration_ms"]) >= DELAY_MS
    return record


def bucket_of(value: float) -> float:
    """The upper bound of the smallest bucket holding ``value`` (bounds are inclusive).

    Compared as numbers: the ``le`` spelling depends on the path (``500`` from OTLP
    into Prometheus 3, ``500.0`` when Prometheus 2 scrapes OpenMetrics).
    """
    return next(b for b in HTTP_BOUNDS if value <= b)


def assert_exemplar_links_the_record(prometheus_url: str, loop: TraceLoop) -> dict[str, Any]:
    """Prometheus holds an exemplar with the record's trace id on the right latency bucket."""
    query = f'http_request_duration_ms_bucket{{job="{loop.job}"}}'
    trace_id = loop.record["trace_id"]
    found: list[dict[str, Any]] = []

    def stored() -> bool:
        found[:] = [
            e
            for e in stack_otlp.query_exemplars(prometheus_url, query)
            if e["labels"].get("trace_id") == trace_id
        ]
        return bool(found)

    stack.wait_for(stored, 60, f"an exemplar with trace_id {trace_id} for {query}")
    exemplar = found[0]
    stack.say(f"exemplar: {exemplar}")
    assert exemplar["series"]["__name__"] == "http_request_duration_ms_bucket"
    assert exemplar["series"]["route"] == SLOW_ROUTE
    assert exemplar["series"]["status_code"] == "200"
    # The exemplar's value is the request's duration as measured, on the bucket it fell in.
    assert exemplar["value"] == pytest.approx(float(loop.record["duration_ms"]), abs=0.5)
    assert float(exemplar["series"]["le"]) == bucket_of(exemplar["value"])
    assert re.fullmatch(r"[0-9a-f]{16}", exemplar["labels"]["span_id"])
    return exemplar


def assert_jaeger_has_the_trace(
    jaeger: stack_otlp.Jaeger, loop: TraceLoop, exemplar: dict[str, Any]
) -> None:
    """The trace by the record's id: the server span and its SQL spans, statements sanitized."""
    trace_id = loop.record["trace_id"]
    spans: list[dict[str, Any]] = []

    def arrived() -> bool:
        spans[:] = jaeger.trace(trace_id) or []
        return len(spans) >= 3

    stack.wait_for(arrived, 60, f"trace {trace_id} with 3 spans in Jaeger")
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for span in spans:
        assert span["traceID"] == trace_id
        by_kind.setdefault(stack_otlp.span_tags(span).get("span.kind", ""), []).append(span)
    (server,) = by_kind["server"]
    assert server["operationName"] == f"GET {SLOW_ROUTE}"
    assert server["spanID"] == loop.record["span_id"]
    assert exemplar["labels"]["span_id"] in {s["spanID"] for s in spans}
    assert server["duration"] >= DELAY_MS * 1000  # microseconds
    statements = [stack_otlp.span_tags(s).get("db.statement", "") for s in by_kind["client"]]
    stack.say(f"spans of {trace_id}: {[(s['operationName'], s['spanID']) for s in spans]}")
    stack.say(f"SQL statements of {trace_id}: {statements}")
    assert any("pg_sleep(%(seconds)s)" in s for s in statements), statements
    assert any("stack_orders.region = %(region_1)s" in s for s in statements), statements
    for statement in statements:
        assert REGION not in statement
        assert str(DELAY_MS / 1000) not in statement
    parents = {ref["spanID"] for s in by_kind["client"] for ref in s.get("references", [])}
    assert parents <= {s["spanID"] for s in spans}


# -- through the Collector ------------------------------------------------------------


@pytest.fixture
def collector_path(tmp_path: Path, postgres_url: Any) -> Iterator[tuple[Any, ...]]:
    with (
        stack_otlp.run_jaeger(tmp_path / "jaeger") as jaeger,
        stack.run_collector(
            tmp_path / "collector",
            configs=(stack.COLLECTOR_CONFIG, stack_otlp.TRACES_TO_JAEGER),
            env={"AZORA_JAEGER_OTLP_ENDPOINT": jaeger.otlp_grpc_endpoint},
        ) as collector,
        stack.run_prometheus(
            tmp_path / "prometheus",
            scrape_targets=[collector.prometheus_target],
            extra_args=["--enable-feature=exemplar-storage"],
        ) as prometheus,
    ):
        yield jaeger, collector, prometheus, postgres_url("psycopg")


def test_slow_request_to_exemplar_to_trace_through_the_collector(
    tmp_path: Path, collector_path: tuple[Any, ...]
) -> None:
    jaeger, collector, prometheus, database_url = collector_path
    job = "orders-traced"
    env = {
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.otlp_http_url,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "PERF_API_LATENCY_MS": "200",
        # A bucket's exemplar stays on the Collector's /metrics until the next push
        # replaces the point; pushes 5 s apart leave several 1 s scrapes to see it.
        "OTEL_METRIC_EXPORT_INTERVAL": "5000",
    }
    with stack_otlp.run_service(tmp_path / "service", job, database_url, env) as service:
        loop = TraceLoop(slow_request(service), job)
        exemplar = assert_exemplar_links_the_record(prometheus.url, loop)
    assert_jaeger_has_the_trace(jaeger, loop, exemplar)
    assert "Exporting failed" not in collector.process.log_path.read_text(errors="replace")


def test_collector_openmetrics_exposition_keeps_the_names_and_carries_exemplars(
    tmp_path: Path, collector_path: tuple[Any, ...]
) -> None:
    """What Prometheus scrapes from the Collector when it asks for OpenMetrics."""
    _, collector, _, database_url = collector_path
    job = "orders-openmetrics"
    env = {
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.otlp_http_url,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "PERF_API_LATENCY_MS": "200",
        "OTEL_METRIC_EXPORT_INTERVAL": "60000",  # one push: the shutdown flush
    }
    with stack_otlp.run_service(tmp_path / "service", job, database_url, env) as service:
        record = slow_request(service)
    accept = {"Accept": "application/openmetrics-text; version=1.0.0; charset=utf-8"}
    text = ""

    def exposed() -> bool:
        nonlocal text
        response = httpx.get(collector.metrics_url, headers=accept, timeout=10)
        assert response.headers["content-type"].startswith("application/openmetrics-text")
        text = response.text
        return f'job="{job}"' in text and "slow_requests_total" in text

    stack.wait_for(exposed, 30, "the service's series on the Collector's OpenMetrics /metrics")
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert set(families) >= {
        "http_request_duration_ms",
        "http_requests",
        "http_error_rate",
        "slow_requests",
        "db_query_duration_ms",
        "db_queries",
    }
    names = {s.name for f in families.values() for s in f.samples if s.labels.get("job") == job}
    assert not [n for n in names if "_milliseconds" in n or n.endswith("_ratio")], names
    assert not [n for n in names if n.endswith("_created")], names
    exemplars = [
        s
        for s in families["http_request_duration_ms"].samples
        if s.exemplar is not None and s.exemplar.labels.get("trace_id") == record["trace_id"]
    ]
    (sample,) = exemplars
    assert sample.name == "http_request_duration_ms_bucket"
    assert sample.labels["route"] == SLOW_ROUTE
    assert float(sample.labels["le"]) == bucket_of(sample.exemplar.value)
    assert sample.exemplar.labels["span_id"] == record["span_id"]


# -- without a Collector: Prometheus 3 and Jaeger take OTLP directly ---------------------


def test_slow_request_to_exemplar_to_trace_without_a_collector(
    tmp_path: Path, postgres_url: Any
) -> None:
    job = "orders-direct"
    with (
        stack_otlp.run_jaeger(tmp_path / "jaeger") as jaeger,
        stack_otlp.run_prometheus3(tmp_path / "prometheus") as prometheus,
    ):
        env = {
            "OTEL_METRICS_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": stack_otlp.otlp_metrics_url(prometheus),
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": jaeger.otlp_http_traces_url,
            "PERF_API_LATENCY_MS": "200",
        }
        database_url = postgres_url("psycopg")
        with stack_otlp.run_service(tmp_path / "service", job, database_url, env) as service:
            loop = TraceLoop(slow_request(service), job)
            exemplar = assert_exemplar_links_the_record(prometheus.url, loop)
            # What a Grafana latency panel asks for when its target has exemplars on:
            # the panel's own PromQL, over the raw buckets (a recording rule has none).
            panel_query = (
                "histogram_quantile(0.95, sum by (le) "
                f'(rate(http_request_duration_ms_bucket{{job=~"{job}"}}[1m])))'
            )
            from_panel = stack_otlp.query_exemplars(prometheus.url, panel_query)
            assert loop.record["trace_id"] in {e["labels"]["trace_id"] for e in from_panel}
        assert_jaeger_has_the_trace(jaeger, loop, exemplar)
