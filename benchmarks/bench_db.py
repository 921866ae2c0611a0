"""Per-query overhead of the SQL instrumentation, every variant in one process, interleaved.

Variants, each on its own in-memory SQLite engine with one open connection:

- ``bare``: no instrumentation;
- ``azora metrics-only``: the distro with ``OTEL_TRACES_EXPORTER=none`` (the
  embedded default: the in-process Prometheus exposition);
- ``azora full``: metrics and one CLIENT span per statement, exported by the
  distro's own pipeline (BatchSpanProcessor, OTLP/gRPC) to the sink process;
- ``azora unsampled``: the same with ``parentbased_traceidratio`` 0.01 (1 % exported);
- ``azora always_off``: the same with ``always_off``;
- ``stock SQLAlchemy instrumentation``: ``SQLAlchemyInstrumentor().instrument(engine=...)``
  (``skip_dep_check=True`` under SQLAlchemy 2.1) on an SDK tracer provider with a
  BatchSpanProcessor and the upstream OTLP/gRPC exporter to the same sink: spans only,
  it records no query metric.

CPU time (``time.process_time``, all threads) per query; each block of queries ends
with a flush of its variant's spans, so the export is charged to the block. Variants
are interleaved inside each round; medians of the rounds.

    python benchmarks/bench_db.py [--rounds 9] [--queries 3000] [--json out.json]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import Sinks

STATEMENTS = {
    "select 1": (sa.text("select 1"), None),
    "pk select, 100-row table": (
        sa.text("select id, name, price from products where id = :id"),
        {"id": 42},
    ),
}
_RATIO = {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.01"}
VARIANTS = (
    "bare",
    "azora metrics-only",
    "azora full",
    "azora unsampled (1 %)",
    "azora always_off",
    "stock SQLAlchemy instrumentation",
)


def make_engine() -> tuple[sa.Engine, sa.Connection]:
    engine = sa.create_engine("sqlite://")
    conn = engine.connect()
    conn.execute(sa.text("create table products (id integer primary key, name text, price int)"))
    conn.execute(
        sa.text("insert into products values (:id, :name, :price)"),
        [{"id": i, "name": f"p{i}", "price": i} for i in range(100)],
    )
    conn.commit()
    return engine, conn


def _azora(engine: sa.Engine, env: dict[str, str]) -> Callable[[], None]:
    from azora_otel import Settings, Telemetry, instrument_engine

    for key in ("OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG"):
        os.environ.pop(key, None)
    os.environ.update(env)  # read by the SDK's sampler and the exporter classes
    telemetry = Telemetry.build(Settings.from_env(os.environ))
    instrument_engine(engine, telemetry)
    provider = telemetry.tracer_provider
    return (lambda: provider.force_flush() and None) if provider is not None else lambda: None


def _stock(engine: sa.Engine, grpc_endpoint: str) -> Callable[[], None]:
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
    from opentelemetry.metrics import NoOpMeterProvider
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    for key in ("OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG"):
        os.environ.pop(key, None)
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=grpc_endpoint)))
    SQLAlchemyInstrumentor().instrument(
        engine=engine,
        tracer_provider=provider,
        meter_provider=NoOpMeterProvider(),
        skip_dep_check=True,
    )
    return lambda: provider.force_flush() and None


def build(name: str, engine: sa.Engine, grpc_endpoint: str) -> Callable[[], None]:
    base = {"AZORA_LOG_FORMAT": "off", "OTEL_METRICS_EXPORTER": "prometheus"}
    traced = {
        **base,
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_EXPORTER_OTLP_ENDPOINT": grpc_endpoint,
    }
    if name == "bare":
        return lambda: None
    if name == "azora metrics-only":
        return _azora(engine, {**base, "OTEL_TRACES_EXPORTER": "none"})
    if name == "azora full":
        return _azora(engine, traced)
    if name.startswith("azora unsampled"):
        # No forced export per block (30 spans): the batch processor exports them, as it
        # would in a service, 512 at a time.
        _azora(engine, {**traced, **_RATIO})
        return lambda: None
    if name == "azora always_off":
        return _azora(engine, {**traced, "OTEL_TRACES_SAMPLER": "always_off"})
    return _stock(engine, grpc_endpoint)


def per_query_us(
    conn: sa.Connection, statement: Any, params: Any, n: int, flush: Callable[[], None]
) -> float:
    execute = conn.execute
    gc.collect()
    start = time.process_time()
    for _ in range(n):
        execute(statement, params).all()
    flush()
    return (time.process_time() - start) / n * 1e6


def run(rounds: int, queries: int) -> dict[str, Any]:
    sinks = Sinks()
    saved = dict(os.environ)
    try:
        variants: dict[str, tuple[sa.Connection, Callable[[], None]]] = {}
        for name in VARIANTS:
            engine, conn = make_engine()
            variants[name] = (conn, build(name, engine, sinks.grpc))
        # The builds set OTEL_* variables for the SDK to read: none may reach what runs
        # after this part (run.py's later parts start processes from this environment).
        os.environ.clear()
        os.environ.update(saved)
        samples: dict[str, dict[str, list[float]]] = {
            s: {v: [] for v in VARIANTS} for s in STATEMENTS
        }
        for label, (statement, params) in STATEMENTS.items():
            for conn, flush in variants.values():  # warm caches, label sets, connections
                per_query_us(conn, statement, params, 300, flush)
            for _ in range(rounds):
                for name, (conn, flush) in variants.items():
                    samples[label][name].append(
                        per_query_us(conn, statement, params, queries, flush)
                    )
        received = sinks.stats()
    finally:
        os.environ.clear()
        os.environ.update(saved)
        sinks.stop()
    medians = {s: {v: statistics.median(x) for v, x in by.items()} for s, by in samples.items()}
    return {
        "sqlalchemy": sa.__version__,
        "params": {"rounds": rounds, "queries": queries},
        "us_per_query": medians,
        "overhead_us": {s: {v: m[v] - m["bare"] for v in VARIANTS} for s, m in medians.items()},
        "received_by_sink": received,
    }


def table(result: dict[str, Any]) -> str:
    over = result["overhead_us"]
    labels = list(over)
    lines = [
        "| variant | " + " | ".join(f"{s}: µs over bare (x stock)" for s in labels) + " |",
        "|---|" + "---|" * len(labels),
        "| bare (absolute µs/query) | "
        + " | ".join(f"{result['us_per_query'][s]['bare']:.1f}" for s in labels)
        + " |",
    ]
    stock = "stock SQLAlchemy instrumentation"
    for name in VARIANTS[1:]:
        cells = []
        for s in labels:
            ratio = over[s][name] / over[s][stock] if over[s][stock] > 0 else float("nan")
            cells.append(f"+{over[s][name]:.1f} ({ratio:.2f})")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--queries", type=int, default=3000)
    parser.add_argument("--json")
    args = parser.parse_args()
    result = run(args.rounds, args.queries)
    print(table(result))
    print(f"spans received by the sink: {result['received_by_sink']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
