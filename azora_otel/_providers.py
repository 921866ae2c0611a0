"""Builds the OpenTelemetry providers from settings. Nothing here touches globals.

Every decision is made from ``Settings`` alone (the resource, the exemplar filter,
the sampler, which exporter class ``otlp`` means, whether an OTLP/HTTP exporter gets
the CA-pinning session), so ``Telemetry.build(Settings.from_env(mapping))`` does what
``mapping`` says whatever ``os.environ`` holds. What is left to the environment are
the variables upstream classes read at construction on their own: the OTLP
exporters' endpoint, headers, timeout, compression and certificates, the batch
span processor's ``OTEL_BSP_*``, the span limits, and the SDK providers'
``OTEL_SDK_DISABLED`` (the distro does not build them at all when it is set).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from importlib.metadata import entry_points
from typing import Any

from opentelemetry.sdk.metrics import (
    AlwaysOffExemplarFilter,
    AlwaysOnExemplarFilter,
    ExemplarFilter,
    MeterProvider,
    TraceBasedExemplarFilter,
)
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import View
from opentelemetry.sdk.resources import (
    TELEMETRY_SDK_LANGUAGE,
    TELEMETRY_SDK_NAME,
    TELEMETRY_SDK_VERSION,
    Resource,
    ResourceDetector,
    get_aggregated_resources,
)
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace import sampling as sdk_sampling
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.version import __version__ as sdk_version

from azora_otel._exemplars import TraceBasedFilter, reservoir_factory
from azora_otel._exposition import ExactNamePrometheusReader
from azora_otel._instruments import DEFAULT_VIEWS, contract_views
from azora_otel._other_metrics import ContractMeterProvider, OtherMetrics
from azora_otel._other_metrics import views as other_metrics_views
from azora_otel._otlp_export import fast_exporter
from azora_otel._otlp_tls import exporter_options
from azora_otel._sampling import HandoffIdGenerator
from azora_otel._settings import Settings
from azora_otel._version import __version__

_log = logging.getLogger("azora_otel")

_OWN_DETECTORS = frozenset({"otel", "service_instance"})
"""Detectors whose work ``build_resource`` does itself, from settings: the ``otel`` one
reads ``OTEL_RESOURCE_ATTRIBUTES`` from ``os.environ``, ``service_instance`` makes the
instance id."""


def build_resource(settings: Settings) -> Resource:
    """The resource of every metric and span, as ``Resource.create`` would make it, from
    ``settings`` only: the SDK's ``telemetry.sdk.*``, the detectors of
    ``OTEL_EXPERIMENTAL_RESOURCE_DETECTORS``, the distro's name and version,
    ``OTEL_RESOURCE_ATTRIBUTES``, the service name, and a unique ``service.instance.id``
    per process unless one is given, so workers never overwrite each other's series."""
    base = Resource(
        {
            TELEMETRY_SDK_LANGUAGE: "python",
            TELEMETRY_SDK_NAME: "opentelemetry",
            TELEMETRY_SDK_VERSION: sdk_version,
        }
    )
    if settings.resource_detectors:
        base = get_aggregated_resources(_detectors(settings.resource_detectors), base)
    given = dict(settings.resource_attributes)
    own: dict[str, str] = {
        "telemetry.distro.name": "azora-otel",
        "telemetry.distro.version": __version__,
        **given,
        "service.name": settings.service_name,
    }
    if "service.instance.id" not in given:
        own["service.instance.id"] = str(uuid.uuid4())
    merged = base.merge(Resource(own))
    return _HashOnceResource(merged.attributes, merged.schema_url)


def _detectors(names: Sequence[str]) -> list[ResourceDetector]:
    """The installed resource detectors ``names`` asks for (``*``: all), in that order."""
    group = entry_points(group="opentelemetry_resource_detector")
    if "*" in names:
        names = [*names[: names.index("*")], *sorted(group.names), *names[names.index("*") :]]
    detectors: list[ResourceDetector] = []
    for name in dict.fromkeys(n for n in names if n != "*" and n not in _OWN_DETECTORS):
        try:
            detectors.append(next(iter(group.select(name=name))).load()())
        except Exception:  # noqa: BLE001 - a broken detector costs its attributes only
            _log.warning("resource detector %s could not be loaded", name, exc_info=True)
    return detectors


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


def _exporter_classes(names: Sequence[str], signal: str, protocol: str) -> dict[str, Any]:
    # The upstream configurator's own loading, and its rule for ``otlp``: gRPC unless the
    # protocol (from settings, not the environment) says http/protobuf.
    from opentelemetry.sdk._configuration import _import_exporters  # noqa: PLC0415

    otlp = "otlp_proto_http" if protocol == "http/protobuf" else "otlp_proto_grpc"
    resolved = [otlp if name == "otlp" else name for name in names]
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
        classes = _exporter_classes(others, "metrics", settings.metrics_otlp_protocol)
        for name, cls in classes.items():
            if issubclass(cls, MetricReader):
                readers.append(cls())
            else:
                options = exporter_options(cls, settings.credential_provider_signals)
                readers.append(
                    PeriodicExportingMetricReader(
                        cls(**options),
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
    exemplar_filter: str | None = None,
    recorder: str = "azora",
) -> MeterProvider:
    """A meter provider with the contract's views and the rule for other meters' metrics.

    Exemplars: ``exemplar_filter`` (``OTEL_METRICS_EXEMPLAR_FILTER``) keeps its
    OpenTelemetry meaning when given. ``None``: the SDK's ``trace_based`` when
    ``tracing`` is on (a measurement made inside a sampled span carries its trace:
    OTLP consumers and the in-process exposition's OpenMetrics format show it on the
    histogram bucket) and ``always_off`` without a tracer provider: no span is ever
    recording then, and the filter would only look up the current span for every
    measurement to find none.

    With ``recorder`` ``azora`` (``AZORA_METRICS_RECORDER``), the ``trace_based`` filter
    and the contract views' exemplar reservoir are the equivalents of
    :mod:`azora_otel._exemplars`.
    """
    rule = other_metrics if other_metrics is not None else OtherMetrics()
    if recorder == "azora":
        views = [_LOCK_FREE_EXEMPLARS.get(view, view) for view in views]
    return ContractMeterProvider(
        metric_readers=list(readers),
        resource=resource,
        views=[*views, *other_metrics_views(rule)],
        exemplar_filter=_exemplar_filter(exemplar_filter, tracing=tracing, recorder=recorder),
        other_metrics=rule,
    )


_LOCK_FREE_EXEMPLARS: dict[View, View] = dict(
    zip(DEFAULT_VIEWS, contract_views(reservoir_factory), strict=True)
)
"""Each of :data:`DEFAULT_VIEWS` (found by identity, also in a list that extends it)
and its twin with the lock-free exemplar reservoir."""


def _exemplar_filter(name: str | None, *, tracing: bool, recorder: str) -> ExemplarFilter:
    if name is None:
        name = "trace_based" if tracing else "always_off"
    if name == "always_on":
        return AlwaysOnExemplarFilter()
    if name == "always_off":
        return AlwaysOffExemplarFilter()
    return TraceBasedFilter() if recorder == "azora" else TraceBasedExemplarFilter()


def build_sampler(settings: Settings) -> sdk_sampling.Sampler:
    """The SDK's sampler named by ``OTEL_TRACES_SAMPLER`` (and ``_ARG``), from settings:
    the same objects ``TracerProvider`` would build from the environment."""
    name, ratio = settings.traces_sampler, settings.traces_sampler_arg
    samplers: dict[str, sdk_sampling.Sampler] = {
        "always_on": sdk_sampling.ALWAYS_ON,
        "always_off": sdk_sampling.ALWAYS_OFF,
        "parentbased_always_on": sdk_sampling.DEFAULT_ON,
        "parentbased_always_off": sdk_sampling.DEFAULT_OFF,
    }
    if name == "traceidratio":
        return sdk_sampling.TraceIdRatioBased(ratio)
    if name == "parentbased_traceidratio":
        return sdk_sampling.ParentBasedTraceIdRatio(ratio)
    return samplers[name]


def build_tracer_provider(settings: Settings, resource: Resource) -> TracerProvider | None:
    """A tracer provider exporting to ``OTEL_TRACES_EXPORTER``; ``None`` in metrics-only mode.

    The sampler is the one ``OTEL_TRACES_SAMPLER``/``_ARG`` name (:func:`build_sampler`).
    """
    if not settings.tracing_enabled:
        return None
    # Random ids like the SDK's; the sampling gate can hand over a trace id it decided on.
    provider = TracerProvider(
        resource=resource, id_generator=HandoffIdGenerator(), sampler=build_sampler(settings)
    )
    classes = _exporter_classes(settings.traces_exporters, "traces", settings.traces_otlp_protocol)
    for cls in classes.values():
        exporter = fast_exporter(cls) if settings.span_encoder == "azora" else cls
        options = exporter_options(cls, settings.credential_provider_signals)
        provider.add_span_processor(BatchSpanProcessor(exporter(**options)))
    return provider
