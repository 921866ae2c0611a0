"""The instrumentation variants compared by the benchmarks.

Each builder returns ``(app, flush, series)``: the instrumented app, a callable that
pushes the spans buffered so far (so the exporter's CPU is charged to the batch that
produced them), and a callable counting the Prometheus series the variant exposes
(``None`` when it exposes none in-process). Builders read the OTLP sink's address
from ``BENCH_OTLP_ENDPOINT``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from _common import make_app

Built = tuple[Any, Callable[[], None] | None, Callable[[], tuple[int, int]] | None]

VARIANTS = (
    "azora_full",
    "azora_metrics",
    "contrib",
    "contrib_noexport",
    "native_metrics",
    "native_full",
    "pfi",
)
"""Every variant is measured against the bare app in the same process."""

LABELS = {
    "bare": "bare FastAPI",
    "azora_full": "azora full mode (spans over OTLP, Prometheus exposition)",
    "azora_metrics": "azora metrics-only (OTEL_TRACES_EXPORTER=none)",
    "contrib": "stock contrib OTel (FastAPIInstrumentor, OTLP/HTTP)",
    "contrib_noexport": "stock contrib OTel, no-op span exporter",
    "native_metrics": "FastAPI native telemetry, metrics only",
    "native_full": "FastAPI native telemetry, tracing + metrics",
    "pfi": "prometheus-fastapi-instrumentator",
}


def _endpoint() -> str:
    return os.environ.get("BENCH_OTLP_ENDPOINT", "http://127.0.0.1:4318")


def _count_series(text: str, prefix: str = "") -> tuple[int, int]:
    """(metric families, sample lines) of an exposition, for names starting with ``prefix``."""
    families = series = 0
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            families += line[7:].startswith(prefix)
        elif line and not line.startswith("#") and line.startswith(prefix):
            series += 1
    return families, series


def _sdk_providers(*, export: bool = True) -> tuple[Any, Any]:
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class NoExport(SpanExporter):  # type: ignore[misc]
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    endpoint = _endpoint()
    meter_provider = MeterProvider(
        metric_readers=[
            PeriodicExportingMetricReader(
                OTLPMetricExporter(endpoint=f"{endpoint}/v1/metrics"),
                export_interval_millis=10_000,
            )
        ]
    )
    tracer_provider = TracerProvider()
    exporter = OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces") if export else NoExport()
    tracer_provider.add_span_processor(BatchSpanProcessor(exporter))
    return meter_provider, tracer_provider


def _azora(env: dict[str, str], n_routes: int) -> Built:
    import azora_otel
    from azora_otel import Settings, Telemetry

    os.environ.update(env)  # the upstream exporter classes read OTEL_EXPORTER_OTLP_* here
    telemetry = Telemetry.build(Settings.from_env(os.environ))
    app = make_app(n_extra_routes=n_routes)
    azora_otel.instrument_app(app, telemetry)
    tp = telemetry.tracer_provider
    flush = (lambda: tp.force_flush() and None) if tp is not None else None

    def series() -> tuple[int, int]:
        return _count_series(azora_otel.get_metrics(telemetry))

    return app, flush, series


def build(variant: str, n_routes: int = 0) -> Built:
    endpoint = _endpoint()
    if variant == "bare":
        return make_app(n_extra_routes=n_routes), None, None
    if variant == "azora_full":
        return _azora(
            {
                "OTEL_TRACES_EXPORTER": "otlp",
                "OTEL_METRICS_EXPORTER": "prometheus",
                "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
                "AZORA_LOG_FORMAT": "off",
            },
            n_routes,
        )
    if variant == "azora_metrics":
        return _azora({"OTEL_TRACES_EXPORTER": "none", "AZORA_LOG_FORMAT": "off"}, n_routes)
    if variant in ("contrib", "contrib_noexport"):
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        mp, tp = _sdk_providers(export=variant == "contrib")
        app = make_app(n_extra_routes=n_routes)
        FastAPIInstrumentor.instrument_app(app, tracer_provider=tp, meter_provider=mp)
        return app, lambda: tp.force_flush() and None, None
    if variant in ("native_metrics", "native_full"):
        mp, tp = _sdk_providers()
        full = variant == "native_full"
        app = make_app(
            {
                "tracing": full,
                "tracer_provider": tp if full else None,
                "metrics": True,
                "meter_provider": mp,
                "logs": False,
            },
            n_routes,
        )
        return app, (lambda: tp.force_flush() and None) if full else None, None
    if variant == "pfi":
        from prometheus_client import REGISTRY, generate_latest
        from prometheus_fastapi_instrumentator import Instrumentator

        app = make_app(n_extra_routes=n_routes)
        Instrumentator().instrument(app)

        def series() -> tuple[int, int]:
            return _count_series(generate_latest(REGISTRY).decode(), "http")

        return app, None, series
    raise ValueError(f"unknown variant {variant!r}")
