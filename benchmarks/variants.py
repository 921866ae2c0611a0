"""The instrumentation variants compared by the benchmarks.

Each builder returns ``(app, flush, series)``: the instrumented app (its SQLAlchemy
engine instrumented too where the variant covers databases), a callable that
pushes the spans buffered so far (so the exporter's CPU is charged to the batch
that produced them), and a callable counting the Prometheus series the variant
exposes (``None`` when it exposes none in-process). Spans go to the sink process
(``sinks.py``) named by ``BENCH_OTLP_ENDPOINT`` (OTLP/HTTP, also the Sentry and
Datadog endpoints) and ``BENCH_OTLP_GRPC_ENDPOINT`` (OTLP/gRPC).

Variants in :data:`GLOBAL` patch libraries process-wide (Sentry, Datadog) or set a
global tracer provider (Logfire), which would instrument the bare copy of the app
too: their worker measures the bare app first and builds the variant afterwards.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from _common import make_app

Built = tuple[Any, Callable[[], None] | None, Callable[[], tuple[int, int]] | None]

VARIANTS = (
    "azora_metrics",
    "azora_full",
    "azora_full_http",
    "azora_ratio",
    "azora_off",
    "contrib",
    "logfire",
    "sentry",
    "ddtrace",
    "pfi",
)
"""Every variant is measured against the bare app, in its own process."""

GLOBAL = frozenset({"logfire", "sentry", "ddtrace"})

LABELS = {
    "bare": "bare FastAPI",
    "azora_metrics": "azora metrics-only (OTEL_TRACES_EXPORTER=none)",
    "azora_full": "azora full mode (every span exported, OTLP/gRPC)",
    "azora_full_http": "azora full mode, OTLP/HTTP",
    "azora_ratio": "azora, parentbased_traceidratio 0.01",
    "azora_off": "azora, always_off sampler",
    "contrib": "stock contrib OTel (FastAPI + SQLAlchemy instrumentors, OTLP/gRPC)",
    "logfire": "Pydantic Logfire 5.4 (spans over OTLP/HTTP)",
    "sentry": "Sentry (sentry-sdk, traces_sample_rate=1.0)",
    "ddtrace": "Datadog (ddtrace)",
    "pfi": "prometheus-fastapi-instrumentator",
}


def _endpoint() -> str:
    return os.environ.get("BENCH_OTLP_ENDPOINT", "http://127.0.0.1:4318")


def _grpc_endpoint() -> str:
    return os.environ.get("BENCH_OTLP_GRPC_ENDPOINT", "http://127.0.0.1:4317")


def _count_series(text: str, prefix: str = "") -> tuple[int, int]:
    """(metric families, sample lines) of an exposition, for names starting with ``prefix``."""
    families = series = 0
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            families += line[7:].startswith(prefix)
        elif line and not line.startswith("#") and line.startswith(prefix):
            series += 1
    return families, series


def _azora(env: dict[str, str], n_routes: int) -> Built:
    import azora_otel
    from azora_otel import Settings, Telemetry

    os.environ.update(env)  # the upstream exporter classes read OTEL_EXPORTER_OTLP_* here
    telemetry = Telemetry.build(Settings.from_env(os.environ))
    app = make_app(
        n_extra_routes=n_routes, on_engine=lambda e: azora_otel.instrument_engine(e, telemetry)
    )
    azora_otel.instrument_app(app, telemetry)
    tp = telemetry.tracer_provider
    flush = (lambda: tp.force_flush() and None) if tp is not None else None
    if env.get("OTEL_TRACES_SAMPLER") == "parentbased_traceidratio":
        # At 1 % a batch makes two or three spans: a forced export per batch would charge
        # each request a share of a whole export that, left to the batch processor
        # (512 spans per export), is shared by 51,200 requests.
        flush = None

    def series() -> tuple[int, int]:
        return _count_series(azora_otel.get_metrics(telemetry))

    return app, flush, series


def azora_env(variant: str) -> dict[str, str]:
    """The environment of an azora variant (also used by the uvicorn benchmark)."""
    env = {"AZORA_LOG_FORMAT": "off", "OTEL_METRICS_EXPORTER": "prometheus"}
    if variant == "azora_metrics":
        return {**env, "OTEL_TRACES_EXPORTER": "none"}
    http = variant == "azora_full_http"
    env.update(
        {
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf" if http else "grpc",
            "OTEL_EXPORTER_OTLP_ENDPOINT": _endpoint() if http else _grpc_endpoint(),
        }
    )
    if variant == "azora_ratio":
        env.update(
            {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.01"}
        )
    elif variant == "azora_off":
        env["OTEL_TRACES_SAMPLER"] = "always_off"
    return env


def _contrib(n_routes: int) -> Built:
    """What ``opentelemetry-instrument`` gives a FastAPI + SQLAlchemy service: the contrib
    instrumentors, a BatchSpanProcessor and the OTLP exporter (gRPC, its default)."""
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
    from opentelemetry.metrics import NoOpMeterProvider
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    tp = TracerProvider()
    tp.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=_grpc_endpoint())))
    meters = NoOpMeterProvider()  # spans only: the comparison is about the span path

    def on_engine(engine: Any) -> None:
        SQLAlchemyInstrumentor().instrument(
            engine=engine, tracer_provider=tp, meter_provider=meters, skip_dep_check=True
        )

    app = make_app(n_extra_routes=n_routes, on_engine=on_engine)
    FastAPIInstrumentor.instrument_app(app, tracer_provider=tp, meter_provider=meters)
    return app, lambda: tp.force_flush() and None, None


def _logfire(n_routes: int) -> Built:
    import logfire
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    processor = BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{_endpoint()}/v1/traces"))
    logfire.configure(
        send_to_logfire=False,
        console=False,
        metrics=False,
        additional_span_processors=[processor],
    )

    def on_engine(engine: Any) -> None:
        logfire.instrument_sqlalchemy(engine=engine, skip_dep_check=True)

    app = make_app(n_extra_routes=n_routes, on_engine=on_engine)
    logfire.instrument_fastapi(app)
    return app, lambda: processor.force_flush() and None, None


def _sentry(n_routes: int) -> Built:
    import sentry_sdk

    port = _endpoint().rsplit(":", 1)[1]
    sentry_sdk.init(dsn=f"http://public@127.0.0.1:{port}/1", traces_sample_rate=1.0)
    app = make_app(n_extra_routes=n_routes)  # FastAPI, Starlette, SQLAlchemy: auto-enabled
    return app, lambda: sentry_sdk.flush(timeout=30), None


def _ddtrace(n_routes: int) -> Built:
    # Read by ddtrace at import: the sink as agent, no background telemetry or remote config.
    os.environ.update(
        {
            "DD_TRACE_AGENT_URL": _endpoint(),
            "DD_INSTRUMENTATION_TELEMETRY_ENABLED": "false",
            "DD_REMOTE_CONFIGURATION_ENABLED": "false",
        }
    )
    import ddtrace
    from ddtrace.trace import tracer

    ddtrace.patch(fastapi=True, sqlalchemy=True)
    app = make_app(n_extra_routes=n_routes)
    return app, tracer.flush, None


def build(variant: str, n_routes: int = 0) -> Built:
    if variant == "bare":
        return make_app(n_extra_routes=n_routes), None, None
    if variant.startswith("azora_"):
        return _azora(azora_env(variant), n_routes)
    if variant == "contrib":
        return _contrib(n_routes)
    if variant == "logfire":
        return _logfire(n_routes)
    if variant == "sentry":
        return _sentry(n_routes)
    if variant == "ddtrace":
        return _ddtrace(n_routes)
    if variant == "pfi":
        from prometheus_client import REGISTRY, generate_latest
        from prometheus_fastapi_instrumentator import Instrumentator

        app = make_app(n_extra_routes=n_routes)
        Instrumentator().instrument(app)

        def series() -> tuple[int, int]:
            return _count_series(generate_latest(REGISTRY).decode(), "http")

        return app, None, series
    raise ValueError(f"unknown variant {variant!r}")
