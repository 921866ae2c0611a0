"""Where a full-mode request's and query's CPU goes, stage by stage, counted by callgrind.

Each stage adds one piece of the span path to the one before, so the difference
between two stages is what that piece costs::

    bare       no instrumentation
    metrics    azora metrics-only (OTEL_TRACES_EXPORTER=none)
    off        azora, spans on but OTEL_TRACES_SAMPLER=always_off (nothing recorded)
    ratio      azora, parentbased_traceidratio 0.01 (1 % recorded, exported over OTLP/HTTP)
    spans      spans recorded and ended, no export processor (creation, attributes, context)
    queue      + BatchSpanProcessor with an exporter that does nothing (the queue)
    encode     + the exporter builds the OTLP request bytes, sends nothing (encoding)
    http       + OTLP/HTTP to the sink (transport)
    grpc       OTLP/gRPC to the sink instead
    full       the distro's full mode exactly as configured by the environment
    contrib    stock contrib instrumentation (requests: FastAPI + SQLAlchemy instrumentors;
               queries: the SQLAlchemy instrumentor), BatchSpanProcessor, OTLP/gRPC
    logfire, sentry, ddtrace   the anchors of ``variants.py`` (requests only)

``--upstream`` builds the spans/queue/encode/http/grpc stages from the upstream SDK
pieces (BatchSpanProcessor, the OTLP exporters and their encoder) instead of the
distro's. The measured loop is bracketed by two ``os.getppid()`` calls; under::

    valgrind --tool=callgrind --dump-before=os_getppid --callgrind-out-file=cg.%p \\
        python benchmarks/profile_breakdown.py request spans --n 2000

the second dump holds exactly the loop's instructions (all threads, export included:
the loop ends with a flush). Several stages may run in one process (``spans,queue``:
one interpreter start-up instead of one per stage); stage k's loop is dump 2k. Stages
that set process-wide state (the anchors) must run alone.
``benchmarks/callgrind_breakdown.py`` runs the stages that way and prints
instructions per request/query. Without valgrind this prints CPU
µs per operation (noisy on a shared machine).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import PATHS, call, make_app, make_engine

STAGES = ("bare", "metrics", "off", "ratio", "spans", "queue", "encode", "http", "grpc", "full")
ANCHORS = ("contrib", "logfire", "sentry", "ddtrace")


def _env(stage: str, upstream: bool) -> dict[str, str]:
    http = os.environ.get("BENCH_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    grpc = os.environ.get("BENCH_OTLP_GRPC_ENDPOINT", "http://127.0.0.1:4317")
    env = {"AZORA_LOG_FORMAT": "off", "OTEL_METRICS_EXPORTER": "prometheus"}
    if stage == "metrics":
        env["OTEL_TRACES_EXPORTER"] = "none"
        return env
    env.update(
        {
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc" if stage == "grpc" else "http/protobuf",
            "OTEL_EXPORTER_OTLP_ENDPOINT": grpc if stage == "grpc" else http,
        }
    )
    if upstream:
        env["AZORA_SPAN_ENCODER"] = "upstream"
    if stage == "off":
        env["OTEL_TRACES_SAMPLER"] = "always_off"
    elif stage == "ratio":
        env["OTEL_TRACES_SAMPLER"] = "parentbased_traceidratio"
        env["OTEL_TRACES_SAMPLER_ARG"] = "0.01"
    return env


def _telemetry(stage: str, upstream: bool) -> Any:
    """The distro for ``stage``; the partial stages swap the span exporter's last steps."""
    from azora_otel import Settings, Telemetry

    for key in ("OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG", "AZORA_SPAN_ENCODER"):
        os.environ.pop(key, None)  # what an earlier stage of this process set
    os.environ.update(_env(stage, upstream))
    telemetry = Telemetry.build(Settings.from_env(os.environ))
    if stage in ("spans", "queue", "encode"):
        from bench_parts import partial_pipeline

        partial_pipeline(telemetry, stage, upstream)
    return telemetry


def request_loop(stage: str, upstream: bool) -> tuple[Callable[[int], None], Callable[[], None]]:
    import azora_otel

    telemetry = None
    flush_anchor = None
    if stage in ANCHORS:
        from variants import build

        app, flush_anchor, _ = build(stage)
    else:
        app = make_app(
            on_engine=None
            if stage == "bare"
            else lambda e: azora_otel.instrument_engine(e, telemetry)
        )
    if stage != "bare" and stage not in ANCHORS:
        telemetry = _telemetry(stage, upstream)
        azora_otel.instrument_app(app, telemetry)
    loop = asyncio.new_event_loop()
    path = PATHS[os.environ.get("BENCH_ROUTE", "async")]

    async def drive(n: int) -> None:
        for _ in range(n):
            await call(app, path)

    def flush() -> None:
        if flush_anchor is not None:
            flush_anchor()
        if telemetry is not None and telemetry.tracer_provider is not None:
            telemetry.tracer_provider.force_flush()

    return lambda n: loop.run_until_complete(drive(n)), flush


def query_loop(stage: str, upstream: bool) -> tuple[Callable[[int], None], Callable[[], None]]:
    from sqlalchemy import text

    import azora_otel

    engine = make_engine()
    telemetry = None
    stock = None
    if stage == "contrib":
        stock = _stock_sqlalchemy(engine)
    elif stage != "bare":
        telemetry = _telemetry(stage, upstream)
        azora_otel.instrument_engine(engine, telemetry)
    conn = engine.connect()
    query = text("SELECT id, name FROM users WHERE id = :id")
    params = {"id": 7}

    def run(n: int) -> None:
        execute = conn.execute
        for _ in range(n):
            execute(query, params).all()

    def flush() -> None:
        if stock is not None:
            stock.force_flush()
        if telemetry is not None and telemetry.tracer_provider is not None:
            telemetry.tracer_provider.force_flush()

    return run, flush


def _stock_sqlalchemy(engine: Any) -> Any:
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
    from opentelemetry.metrics import NoOpMeterProvider
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    grpc = os.environ.get("BENCH_OTLP_GRPC_ENDPOINT", "http://127.0.0.1:4317")
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=grpc)))
    SQLAlchemyInstrumentor().instrument(
        engine=engine,
        tracer_provider=provider,
        meter_provider=NoOpMeterProvider(),
        skip_dep_check=True,
    )
    return provider


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=("request", "query"))
    parser.add_argument("stages", help="one stage, or several separated by commas")
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--upstream", action="store_true")
    args = parser.parse_args()
    build = request_loop if args.kind == "request" else query_loop
    stages = args.stages.split(",")
    unknown = set(stages) - set(STAGES + ANCHORS)
    if unknown:
        parser.error(f"unknown stages {sorted(unknown)}")
    for stage in stages:  # each stage: its own distro, measured between two markers
        run, flush = build(stage, args.upstream)
        run(300)  # warm-up: imports, caches, first label sets, the exporter's connection
        flush()
        gc.collect()
        # Earlier stages' objects stay alive in this process: frozen, the collector's
        # passes cost the same in every stage, whatever ran before it.
        gc.freeze()
        os.getppid()  # marker: callgrind dumps here (start of the measured loop)
        t0 = time.process_time()
        run(args.n)
        flush()
        cpu = time.process_time() - t0
        os.getppid()  # marker: end of the measured loop
        gc.unfreeze()
        print(f"{args.kind} {stage}: {cpu / args.n * 1e6:.1f} µs CPU per operation", flush=True)


if __name__ == "__main__":
    main()
