"""Test helpers: a fully built distro that records into memory.

::

    from azora_otel.testing import capture

    def test_orders(app):
        with capture() as cap:
            azora_otel.instrument_app(app, cap.telemetry)
            ...
            assert cap.value("http_requests_total", route="/orders/{order_id}") == 1
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk.metrics.export import (
    HistogramDataPoint,
    InMemoryMetricReader,
    NumberDataPoint,
)
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import Sampler

from azora_otel._exposition import ExactNamePrometheusReader
from azora_otel._sampling import HandoffIdGenerator
from azora_otel._settings import Settings
from azora_otel._telemetry import Telemetry


@dataclass
class Capture:
    """A distro whose metrics, exposition and spans stay in memory."""

    telemetry: Telemetry
    reader: InMemoryMetricReader
    spans_exporter: InMemorySpanExporter | None

    def points(self, name: str) -> list[Any]:
        """The data points of metric ``name`` (cumulative since the capture began)."""
        data = self.reader.get_metrics_data()
        found: list[Any] = []
        if data is None:
            return found
        for rm in data.resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    if metric.name == name:
                        found.extend(metric.data.data_points)
        return found

    def value(self, name: str, **labels: str) -> float:
        """Sum of a counter/gauge's points, or count of a histogram's, matching ``labels``."""
        total = 0.0
        for point in self.points(name):
            if any(point.attributes.get(k) != v for k, v in labels.items()):
                continue
            if isinstance(point, HistogramDataPoint):
                total += point.count
            elif isinstance(point, NumberDataPoint):
                total += point.value
        return total

    def exposition(self) -> str:
        """The Prometheus text exposition, as ``GET /metrics`` serves it."""
        prometheus = self.telemetry.prometheus
        if prometheus is None:
            raise RuntimeError("the capture was built without the Prometheus exposition")
        return prometheus.render()[0].decode("utf-8")

    def spans(self) -> tuple[ReadableSpan, ...]:
        return (
            () if self.spans_exporter is None else tuple(self.spans_exporter.get_finished_spans())
        )


@contextmanager
def capture(
    environ: Mapping[str, str] | None = None,
    *,
    tracing: bool = True,
    sampler: Sampler | None = None,
) -> Iterator[Capture]:
    """Build a distro from ``environ`` (default: no variables) recording into memory.

    ``tracing=False`` is metrics-only mode: no tracer provider at all.
    """
    settings = Settings.from_env(environ or {})
    reader = InMemoryMetricReader()
    exporter: InMemorySpanExporter | None = None
    tracer_provider: TracerProvider | None = None
    if tracing:
        exporter = InMemorySpanExporter()
        tracer_provider = TracerProvider(sampler=sampler, id_generator=HandoffIdGenerator())
        tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry = Telemetry.build(
        settings,
        readers=[reader, ExactNamePrometheusReader()],
        tracer_provider=tracer_provider,
    )
    try:
        yield Capture(telemetry=telemetry, reader=reader, spans_exporter=exporter)
    finally:
        telemetry.shutdown()
