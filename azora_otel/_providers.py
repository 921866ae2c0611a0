"""Builds the OpenTelemetry providers from settings. Nothing here touches globals."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.environment_variables import OTEL_METRICS_EXEMPLAR_FILTER
from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import View
from opentelemetry.sdk.resources import OTELResourceDetector, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from azora_otel._exposition import ExactNamePrometheusReader
from azora_otel._instruments import DEFAULT_VIEWS
from azora_otel._other_metrics import ContractMeterProvider, OtherMetrics
from azora_otel._other_metrics import views as other_metrics_views
from azora_otel._otlp_export import fast_exporter
from azora_otel._otlp_tls import exporter_options
from azora_otel._sampling import HandoffIdGenerator
from azora_otel._settings import Settings
from azora_otel._version import __version__

_log = logging.getLogger("azora_otel")

DEFAULT_EXPORT_INTERVAL_MS = 10_000
"""Push interval of OTLP metrics unless ``OTEL_METRIC_EXPORT_INTERVAL`` says otherwise
(the SDK's own default is 60 s; the specification's Prometheus scrapes every 10 s)."""


def build_resource(settings: Settings) -> Resource:
    """``OTEL_RESOURCE_ATTRIBUTES``/``OTEL_SERVICE_NAME`` plus a unique ``service.instance.id``
    per process, so several workers of one service never overwrite each other's series."""
    detected = OTELResourceDetector().detect()
    extra: dict[str, str] = {
        "service.name": settings.service_name,
        "telemetry.distro.name": "azora-otel",
        "telemetry.distro.version": __version__,
    }
    if "service.instance.id" not in detected.attributes:
        extra["service.instance.id"] = str(uuid.uuid4())
    merged = Resource.create(extra).merge(detected)
    return _HashOnceResource(merged.attributes, merged.schema_url)


class _HashOnceResource(Resource):
    """A resource that computes its hash once.

    The OTLP span encoder groups every exported span by resource, and the SDK's
    ``Resource.__hash__`` JSON-encodes all attributes on each call (about 4 µs per
    span on 2 cores). A resource's attributes are immutable, so the hash is too.
    """

    _azora_hash: int | None = None

    def __hash__(self) -> int:
        cached = self._azora_hash
        if cached is None:
            cached = self._azora_hash = super().__hash__()
        return cached


def _exporter_classes(names: Sequence[str], signal: str) -> dict[str, Any]:
    # The upstream configurator's own resolution, so ``otlp`` and
    # ``OTEL_EXPORTER_OTLP_PROTOCOL`` mean exactly what they mean under
    # ``opentelemetry-instrument`` (gRPC unless the protocol says http/protobuf).
    from opentelemetry.sdk._configuration import (  # noqa: PLC0415
        _get_exporter_entry_point,
        _import_exporters,
    )

    resolved = [_get_exporter_entry_point(name, signal) for name in names]  # type: ignore[arg-type]
    if signal == "traces":
        return dict(_import_exporters(resolved, [], [])[0])
    return dict(_import_exporters([], resolved, [])[1])


def build_metric_readers(
    settings: Settings,
) -> tuple[list[MetricReader], ExactNamePrometheusReader | None]:
    """The readers ``OTEL_METRICS_EXPORTER`` asks for, and the in-process one if any."""
    readers: list[MetricReader] = []
    prometheus: ExactNamePrometheusReader | None = None
    others = [name for name in settings.metrics_exporters if name != "prometheus"]
    if settings.prometheus_enabled:
        prometheus = ExactNamePrometheusReader()
        readers.append(prometheus)
    if others:
        for name, cls in _exporter_classes(others, "metrics").items():
            if issubclass(cls, MetricReader):
                readers.append(cls())
            else:
                readers.append(
                    PeriodicExportingMetricReader(
                        cls(**exporter_options(cls)),
                        export_interval_millis=settings.metric_export_interval_ms,
                    )
                )
            _log.debug("metrics exporter %s enabled", name)
    return readers, prometheus


def build_meter_provider(
    resource: Resource,
    readers: Sequence[MetricReader],
    views: Sequence[View] = DEFAULT_VIEWS,
    *,
    tracing: bool = True,
    other_metrics: OtherMetrics | None = None,
) -> MeterProvider:
    """A meter provider with the contract's views and the rule for other meters' metrics.

    Exemplars: ``OTEL_METRICS_EXEMPLAR_FILTER`` keeps its OpenTelemetry meaning when set.
    Unset, the filter is the SDK's ``trace_based`` when ``tracing`` is on (a measurement
    made inside a sampled span carries its trace: OTLP consumers and the in-process
    exposition's OpenMetrics format show it on the histogram bucket) and ``always_off``
    without a tracer provider: no span is ever recording then, and the filter would
    only look up the current span for every measurement to find none.
    """
    exemplar_filter = None
    if OTEL_METRICS_EXEMPLAR_FILTER not in os.environ and not tracing:
        exemplar_filter = AlwaysOffExemplarFilter()
    rule = other_metrics if other_metrics is not None else OtherMetrics()
    return ContractMeterProvider(
        metric_readers=list(readers),
        resource=resource,
        views=[*views, *other_metrics_views(rule)],
        exemplar_filter=exemplar_filter,
        other_metrics=rule,
    )


def build_tracer_provider(settings: Settings, resource: Resource) -> TracerProvider | None:
    """A tracer provider exporting to ``OTEL_TRACES_EXPORTER``; ``None`` in metrics-only mode.

    The sampler comes from ``OTEL_TRACES_SAMPLER``/``_ARG`` as in the SDK.
    """
    if not settings.tracing_enabled:
        return None
    # Random ids like the SDK's; the sampling gate can hand over a trace id it decided on.
    provider = TracerProvider(resource=resource, id_generator=HandoffIdGenerator())
    for cls in _exporter_classes(settings.traces_exporters, "traces").values():
        exporter = fast_exporter(cls) if settings.span_encoder == "azora" else cls
        provider.add_span_processor(BatchSpanProcessor(exporter(**exporter_options(cls))))
    return provider
