"""Test helpers: a fully built distro that records into memory, and a way to make it
the process-wide one for a while.

::

    from azora_otel.testing import capture, installed

    def test_orders(app):
        with capture() as cap:
            azora_otel.instrument_app(app, cap.telemetry)
            ...
            assert cap.value("http_requests_total", route="/orders/{order_id}") == 1

    def test_code_that_uses_the_process_wide_distro():
        with capture() as cap, installed(cap.telemetry):
            azora_otel.track_db_query("select", "users", 3.0)
            assert cap.value("db_queries_total", model="users") == 1
"""

from __future__ import annotations

import socket
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from opentelemetry.sdk.metrics.export import (
    HistogramDataPoint,
    InMemoryMetricReader,
    NumberDataPoint,
)
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import Sampler

from azora_otel import _fastapi, _sqlalchemy, _state
from azora_otel._exposition import ExactNamePrometheusReader
from azora_otel._providers import build_resource, build_sampler
from azora_otel._sampling import HandoffIdGenerator
from azora_otel._settings import Settings
from azora_otel._telemetry import Telemetry


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free on ``host`` a moment ago, for a test's server or metrics port.

    The port is released before it is returned, so another process may take it first;
    a server started on it fails loudly (address in use) rather than serving elsewhere.
    A port this process was handed recently is never handed out again: the kernel may
    offer the same free port twice in a row, and a test that asks for several ports
    before starting what listens on them would otherwise get two equal ones.
    """
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port: int = sock.getsockname()[1]
        if port not in _handed_out:
            break
    _handed_out.append(port)
    return port


_handed_out: deque[int] = deque(maxlen=4096)
"""The ports :func:`free_port` returned last in this process."""


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

    ``tracing=False`` is metrics-only mode: no tracer provider at all. ``sampler``
    replaces the one ``environ`` names (``OTEL_TRACES_SAMPLER``).
    """
    settings = Settings.from_env(environ or {})
    reader = InMemoryMetricReader()
    exporter: InMemorySpanExporter | None = None
    tracer_provider: TracerProvider | None = None
    if tracing:
        exporter = InMemorySpanExporter()
        tracer_provider = TracerProvider(
            sampler=sampler or build_sampler(settings),
            resource=build_resource(settings),
            id_generator=HandoffIdGenerator(),
        )
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


@contextmanager
def installed(
    telemetry: Telemetry | None, *, auto_instrument: bool = False
) -> Iterator[Telemetry | None]:
    """Make ``telemetry`` the process-wide distro inside the block; the previous one is back
    on exit.

    What ``configure()`` installs, without booting anything: ``get_metrics()``,
    ``track_db_query()`` and the apps and engines not bound to a telemetry of their own
    record into ``telemetry``. ``None`` stands for a process where the distro is not
    configured. ``auto_instrument=True`` also hooks every FastAPI application and
    SQLAlchemy engine, as ``azora-otel-instrument`` does; hooks that were not there
    before are removed on exit. The OpenTelemetry global providers are left alone (they
    can be set once per process) and ``telemetry`` is not shut down: :func:`capture`
    owns it.
    """
    hooks: list[Callable[[], None]] = []
    if auto_instrument:
        if not getattr(FastAPI, _fastapi._PATCHED, False):
            _fastapi.instrument_every_app()
            hooks.append(_fastapi.uninstrument_every_app)
        if not _sqlalchemy._class_hooks:
            _sqlalchemy.instrument_every_engine()
            hooks.append(_sqlalchemy.uninstrument_every_engine)
    previous = _state.swap(telemetry)
    try:
        yield telemetry
    finally:
        _state.restore(previous)
        for uninstall in reversed(hooks):
            uninstall()
