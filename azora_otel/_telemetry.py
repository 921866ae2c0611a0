"""The running distro: providers, instruments and recorders built from one ``Settings``."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import partial

from opentelemetry.metrics import CallbackOptions, Meter, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader
from opentelemetry.sdk.metrics.view import View
from opentelemetry.sdk.trace import TracerProvider

from azora_otel._db import QueryRecorder
from azora_otel._error_rate import ErrorRateWindow
from azora_otel._exposition import ExactNamePrometheusReader
from azora_otel._http import RequestRecorder
from azora_otel._instruments import DEFAULT_VIEWS, HTTP_ERROR_RATE, METER_NAME, Instruments
from azora_otel._logs import emit
from azora_otel._providers import (
    build_meter_provider,
    build_metric_readers,
    build_resource,
    build_tracer_provider,
)
from azora_otel._redact import install_redaction
from azora_otel._sampling import install_gate
from azora_otel._settings import Settings
from azora_otel._version import __version__


@dataclass
class Telemetry:
    """Everything one configured distro owns. Build it with :meth:`build`."""

    settings: Settings
    meter_provider: MeterProvider
    tracer_provider: TracerProvider | None
    instruments: Instruments
    requests: RequestRecorder
    queries: QueryRecorder
    prometheus: ExactNamePrometheusReader | None

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        readers: Sequence[MetricReader] | None = None,
        tracer_provider: TracerProvider | None = None,
        views: Sequence[View] = DEFAULT_VIEWS,
    ) -> Telemetry:
        """Providers from ``settings``; ``readers``/``tracer_provider`` replace the ones the
        settings would build (tests pass in-memory ones)."""
        resource = build_resource(settings)
        prometheus: ExactNamePrometheusReader | None = None
        if readers is None:
            readers, prometheus = build_metric_readers(settings)
        else:
            prometheus = next(
                (r for r in readers if isinstance(r, ExactNamePrometheusReader)), None
            )
        if tracer_provider is None:
            tracer_provider = build_tracer_provider(settings, resource)
        meter_provider = build_meter_provider(
            resource,
            readers,
            views,
            tracing=tracer_provider is not None,
            other_metrics=settings.other_metrics,
            exemplar_filter=settings.exemplar_filter,
            recorder=settings.metrics_recorder,
        )
        if prometheus is not None:
            prometheus.access = settings.metrics_access
        if tracer_provider is not None:
            install_redaction(tracer_provider)
            install_gate(tracer_provider, settings.sampling_gate)
        meter = meter_provider.get_meter(METER_NAME, __version__)
        instruments = Instruments.create(meter)
        window = _error_rate_window(meter, settings)
        fast = settings.metrics_recorder == "azora"
        return cls(
            settings=settings,
            meter_provider=meter_provider,
            tracer_provider=tracer_provider,
            instruments=instruments,
            requests=RequestRecorder(instruments, settings.api_latency_ms, window, fast=fast),
            queries=QueryRecorder(instruments, settings.db_query_ms, fast=fast),
            prometheus=prometheus,
        )

    def flush(self, timeout_s: float = 5.0) -> None:
        """Push what is recorded so far (OTLP metrics, batched spans), waiting at most
        ``timeout_s`` per provider."""
        for provider in (self.meter_provider, self.tracer_provider):
            if provider is None:
                continue
            try:
                provider.force_flush(int(timeout_s * 1000))
            except Exception:
                logging.getLogger("azora_otel").warning("flush failed", exc_info=True)

    def shutdown(self) -> None:
        """Flush and stop the exporters (last metrics pushed, last spans sent)."""
        for provider in (self.meter_provider, self.tracer_provider):
            if provider is None:
                continue
            try:
                provider.shutdown()
            except Exception:
                logging.getLogger("azora_otel").warning("shutdown failed", exc_info=True)


def _error_rate_window(meter: Meter, settings: Settings) -> ErrorRateWindow:
    """The sliding window behind ``http_error_rate``, and the gauge that reads it."""
    service = settings.service_name
    window = ErrorRateWindow(
        settings.error_rate_window_s,
        settings.error_rate,
        on_transition=partial(_error_rate_event, service, settings),
    )

    def observe_error_rate(_options: CallbackOptions) -> Iterable[Observation]:
        yield Observation(window.rate(), {"service": service})

    meter.create_observable_gauge(
        HTTP_ERROR_RATE,
        callbacks=[observe_error_rate],
        unit="1",
        description=f"Share of 5xx responses and unhandled exceptions over the last "
        f"{settings.error_rate_window_s} s.",
    )
    return window


def _error_rate_event(  # noqa: PLR0917 - called back positionally by ErrorRateWindow
    service: str, settings: Settings, breached: bool, rate: float, errors: int, total: int
) -> None:
    emit(
        logging.WARNING if breached else logging.INFO,
        "error_rate_exceeded" if breached else "error_rate_recovered",
        "error rate above threshold" if breached else "error rate back within threshold",
        {
            "service": service,
            "error_rate": round(rate, 6),
            "threshold": settings.error_rate,
            "window_s": settings.error_rate_window_s,
            "errors": errors,
            "requests": total,
        },
    )
