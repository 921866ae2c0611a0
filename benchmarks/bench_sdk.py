"""Per-call CPU cost of the building blocks on the request path, same run.

    python benchmarks/bench_sdk.py [--quick] [--json out.json]

Each case is timed in blocks of calls (``time.process_time``); cases are
interleaved block by block and the median block is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import median

ATTRS = {"method": "GET", "route": "/items/{item_id}", "status_code": "200"}


def _meter(exemplar_filter: Any = None, readers: int = 1) -> Any:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    kwargs: dict[str, Any] = {}
    if exemplar_filter is not None:
        kwargs["exemplar_filter"] = exemplar_filter
    mp = MeterProvider(metric_readers=[InMemoryMetricReader() for _ in range(readers)], **kwargs)
    return mp.get_meter("bench")


def cases() -> dict[str, Callable[[], None]]:
    from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from prometheus_client import CollectorRegistry, Histogram

    from azora_otel._error_rate import ErrorRateWindow
    from azora_otel._histogram import BucketCounts
    from azora_otel._instruments import HTTP_DURATION_BUCKETS_MS
    from azora_otel.testing import capture

    bounds = list(HTTP_DURATION_BUCKETS_MS)
    h_tb = _meter().create_histogram("h", explicit_bucket_boundaries_advisory=bounds)
    h_off = _meter(AlwaysOffExemplarFilter()).create_histogram(
        "h", explicit_bucket_boundaries_advisory=bounds
    )
    h_two = _meter(readers=2).create_histogram("h", explicit_bucket_boundaries_advisory=bounds)
    c_tb = _meter().create_counter("c")
    c_off = _meter(AlwaysOffExemplarFilter()).create_counter("c")
    registry = CollectorRegistry()
    prom = Histogram("h", "h", ["method", "route", "status_code"], registry=registry)
    window = ErrorRateWindow(60, 0.001)
    buckets = BucketCounts(HTTP_DURATION_BUCKETS_MS)
    tracer = TracerProvider().get_tracer("bench")
    resource = Resource.create(
        {"service.name": "svc", "service.instance.id": "x" * 36, "telemetry.distro.name": "a"}
    )
    cap = capture({"OTEL_TRACES_EXPORTER": "none"}, tracing=False).__enter__()
    recorder = cap.telemetry.requests

    from opentelemetry import trace

    active = tracer.start_span("server")
    in_span = trace.set_span_in_context(active)
    batch = _server_spans(100)
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as upstream

    from azora_otel._otlp_encode import encode_spans as azora_encode

    def span() -> None:
        tracer.start_span("GET /items/{item_id}").end()

    return {
        "otel histogram.record, 3 attrs (trace_based exemplar filter, SDK default)": (
            lambda: h_tb.record(12.5, ATTRS)
        ),
        "otel histogram.record, 3 attrs (always_off exemplar filter)": (
            lambda: h_off.record(12.5, ATTRS)
        ),
        "otel histogram.record inside a sampled span (trace_based: offers an exemplar)": (
            lambda: h_tb.record(12.5, ATTRS, in_span)
        ),
        "otel histogram.record inside a sampled span (always_off)": (
            lambda: h_off.record(12.5, ATTRS, in_span)
        ),
        "otel counter.add inside a sampled span (trace_based)": lambda: c_tb.add(1, ATTRS, in_span),
        "otel histogram.record, 3 attrs, two readers": lambda: h_two.record(12.5, ATTRS),
        "otel counter.add, 3 attrs (trace_based)": lambda: c_tb.add(1, ATTRS),
        "otel counter.add, 3 attrs (always_off)": lambda: c_off.add(1, ATTRS),
        "prometheus_client Histogram.labels().observe": (
            lambda: prom.labels("GET", "/items/{item_id}", "200").observe(0.0125)
        ),
        "azora ErrorRateWindow.record": lambda: window.record(False),
        "azora BucketCounts.observe": lambda: buckets.observe(12.5),
        "azora RequestRecorder.record (whole, metrics-only)": (
            lambda: recorder.record("GET", "/items/{item_id}", 200, 12.5)
        ),
        "otel span start+end, no processor": span,
        "Resource.__hash__ (SDK OTLP encoder: once per exported span)": lambda: hash(resource),
        "OTLP request for 100 server spans, upstream encoder (µs per 100 spans)": (
            lambda: upstream(batch).SerializePartialToString()
        ),
        "OTLP request for 100 server spans, azora encoder (µs per 100 spans)": (
            lambda: azora_encode(batch)
        ),
    }


def _server_spans(n: int) -> list[Any]:
    """``n`` ended server spans shaped like FastAPI's native ones (distinct paths)."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind

    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "bench"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("fastapi", "0.165.0", schema_url="https://opentelemetry.io/s")
    for i in range(n):
        span = tracer.start_span(
            "GET /items/{item_id}",
            kind=SpanKind.SERVER,
            attributes={
                "url.scheme": "http",
                "http.request.method": "GET",
                "network.protocol.version": "1.1",
                "server.address": "shop.example",
                "server.port": 8000,
                "url.path": f"/items/{i}",
            },
        )
        span.set_attributes({"http.route": "/items/{item_id}", "http.response.status_code": 200})
        span.end()
    return list(exporter.get_finished_spans())


def run(quick: bool = False) -> dict[str, float]:
    table = cases()
    blocks, n = (5, 2000) if quick else (15, 5000)
    samples: dict[str, list[float]] = {k: [] for k in table}
    for _ in range(blocks):
        for name, fn in table.items():
            calls = n // 100 if "100 server spans" in name else n  # those take ~1-10 ms
            t0 = time.process_time()
            for _ in range(calls):
                fn()
            samples[name].append((time.process_time() - t0) / calls * 1e6)
    return {k: median(v) for k, v in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json")
    args = parser.parse_args()
    result = run(args.quick)
    for name, us in result.items():
        print(f"{us:8.2f} µs  {name}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
