"""Per-query overhead of the DB instrumentation, same run, same process.

Variants, each on its own in-memory SQLite engine with one open connection:

- ``bare``: no instrumentation;
- ``azora listeners, no-op record``: our three engine listeners (parse, timing)
  with the recorder replaced by a no-op: the part that is ours, not the SDK's;
- ``azora metrics``: azora-otel in metrics-only mode (no tracer provider), the
  embedded default's one metric reader (the in-process Prometheus exposition);
- ``azora metrics+spans``: azora-otel with its CLIENT span per statement into a
  no-op exporter (SimpleSpanProcessor: the export cost is paid inline, none hidden
  in a thread);
- ``upstream spans``: stock ``SQLAlchemyInstrumentor().instrument(engines=...)``
  (``skip_dep_check=True`` under SQLAlchemy 2.1), same tracer provider setup;
  spans only, it records no query metric;
- ``upstream spans+azora metrics``: what "wrap the upstream instrumentor" would
  cost: its spans plus our metrics-only listeners.

Two statements: ``select 1`` and a primary-key select from a 100-row table.
CPU time (``time.process_time``) per query, median of the rounds; variants are
interleaved inside each round so drift hits them alike.

    python benchmarks/bench_db.py [--rounds 9] [--queries 3000]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Callable, Sequence

import sqlalchemy as sa
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from azora_otel import Settings, Telemetry, instrument_engine
from azora_otel._exposition import ExactNamePrometheusReader


class NoOpExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def tracer_provider() -> TracerProvider:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(NoOpExporter()))
    return provider


STATEMENTS = {
    "select 1": (sa.text("select 1"), None),
    "pk select, 100-row table": (
        sa.text("select id, name, price from products where id = :id"),
        {"id": 42},
    ),
}


def telemetry(*, spans: bool) -> Telemetry:
    """The embedded default: one reader, the in-process Prometheus exposition."""
    built = Telemetry.build(
        Settings.from_env({}),
        readers=[ExactNamePrometheusReader()],
        tracer_provider=tracer_provider() if spans else None,
    )
    if not spans:
        built.tracer_provider = None
    return built


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


def per_query_us(conn: sa.Connection, statement: object, params: object, n: int) -> float:
    execute = conn.execute
    gc.disable()
    try:
        start = time.process_time()
        for _ in range(n):
            execute(statement, params).all()  # type: ignore[arg-type]
        return (time.process_time() - start) / n * 1e6
    finally:
        gc.enable()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--queries", type=int, default=3000)
    args = parser.parse_args()

    variants: dict[str, sa.Connection] = {}
    cleanups: list[Callable[[], None]] = []
    telemetries: list[Telemetry] = []

    def add(name: str, instrumented: Telemetry | None) -> sa.Engine:
        engine, variants[name] = make_engine()
        if instrumented is not None:
            instrument_engine(engine, instrumented)
            telemetries.append(instrumented)
        cleanups.append(engine.dispose)
        return engine

    add("bare", None)
    listeners_only = telemetry(spans=False)
    listeners_only.queries.record = lambda *a, **k: None  # type: ignore[method-assign]
    add("azora listeners, no-op record", listeners_only)
    add("azora metrics", telemetry(spans=False))
    add("azora metrics+spans", telemetry(spans=True))
    upstream_engine = add("upstream spans", None)
    wrapped_engine = add("upstream spans+azora metrics", telemetry(spans=False))
    instrumentor = SQLAlchemyInstrumentor()
    instrumentor.instrument(
        engines=[upstream_engine, wrapped_engine],
        tracer_provider=tracer_provider(),
        skip_dep_check=True,
    )

    results: dict[str, dict[str, list[float]]] = {s: {v: [] for v in variants} for s in STATEMENTS}
    for label, (statement, params) in STATEMENTS.items():
        for conn in variants.values():  # warm caches (compiled statements, label sets)
            per_query_us(conn, statement, params, 300)
        for _ in range(args.rounds):
            for name, conn in variants.items():
                results[label][name].append(per_query_us(conn, statement, params, args.queries))

    print(
        f"sqlalchemy {sa.__version__}; CPU µs per query, median of {args.rounds} rounds "
        f"x {args.queries} queries\n"
    )
    header = f"{'variant':32} {'µs/query':>9} {'overhead µs':>12} {'x bare':>7} {'x upstream':>11}"
    for label in STATEMENTS:
        med = {name: statistics.median(v) for name, v in results[label].items()}
        print(f"## {label}")
        print(header)
        for name, value in med.items():
            print(
                f"{name:32} {value:9.1f} {value - med['bare']:12.1f} "
                f"{value / med['bare']:7.2f} {value / med['upstream spans']:11.2f}"
            )
        print()

    instrumentor.uninstrument()
    for conn in variants.values():
        conn.close()
    for cleanup in cleanups:
        cleanup()
    for built in telemetries:
        built.shutdown()


if __name__ == "__main__":
    main()
