"""``Settings``: the distro's configuration, one frozen object, parsed once.

Every variable is declared once, as a row of :mod:`azora_otel._variables` (name, field,
kind, default, doc); :meth:`Settings.from_env` reads the rows and :func:`_combine` is
the one place where several variables decide a field together.

Policy for bad values: **warn and use the default.** Monitoring must never stop
the service it watches, so an invalid value is reported (the message names the
variable, the value and what was expected) and the documented default is used.
``azora-otel check-config`` exits non-zero on the same problems, for pipelines
that want to refuse a bad configuration before deploying it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from azora_otel._access import OPEN, MetricsAccess, access_from
from azora_otel._distro_kinds import InstanceOf, MetricsPath, Signals
from azora_otel._env import Variable, check_fields
from azora_otel._kinds import Kind, Maybe, Text
from azora_otel._other_metrics import OtherMetrics
from azora_otel._variables import (
    AZORA_ERROR_RATE_WINDOW_S,
    AZORA_FASTAPI_OPERATION_SPANS,
    AZORA_LOG_FORMAT,
    AZORA_METRICS_ALLOWED_NETWORKS,
    AZORA_METRICS_HOST,
    AZORA_METRICS_PATH,
    AZORA_METRICS_PORT,
    AZORA_METRICS_RECORDER,
    AZORA_METRICS_TOKEN,
    AZORA_METRICS_TOKEN_FILE,
    AZORA_OTHER_METRICS,
    AZORA_OTHER_METRICS_LIMIT,
    AZORA_SAMPLING_GATE,
    AZORA_SERVER_SPAN,
    AZORA_SPAN_ENCODER,
    OTEL_EXPERIMENTAL_RESOURCE_DETECTORS,
    OTEL_EXPORTER_OTLP_ENDPOINT,
    OTEL_EXPORTER_OTLP_METRICS_PROTOCOL,
    OTEL_EXPORTER_OTLP_PROTOCOL,
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL,
    OTEL_METRIC_EXPORT_INTERVAL,
    OTEL_METRICS_EXEMPLAR_FILTER,
    OTEL_METRICS_EXPORTER,
    OTEL_PYTHON_DISABLED_INSTRUMENTATIONS,
    OTEL_PYTHON_EXPORTER_OTLP_HTTP_CREDENTIAL_PROVIDER,
    OTEL_PYTHON_EXPORTER_OTLP_HTTP_METRICS_CREDENTIAL_PROVIDER,
    OTEL_PYTHON_EXPORTER_OTLP_HTTP_TRACES_CREDENTIAL_PROVIDER,
    OTEL_PYTHON_LOGGER_PROVIDER,
    OTEL_RESOURCE_ATTRIBUTES,
    OTEL_SDK_DISABLED,
    OTEL_SEMCONV_STABILITY_OPT_IN,
    OTEL_SERVICE_NAME,
    OTEL_TRACES_EXPORTER,
    OTEL_TRACES_SAMPLER,
    OTEL_TRACES_SAMPLER_ARG,
    PERF_API_LATENCY_MS,
    PERF_DB_QUERY_MS,
    PERF_ERROR_RATE,
    UNKNOWN_SERVICE,
    VARIABLES,
)

T = TypeVar("T")


@dataclass(frozen=True)
class Settings:
    """The distro's configuration. Build it with :meth:`from_env`; each field's variable,
    default and meaning are in :mod:`azora_otel._variables`."""

    api_latency_ms: float = PERF_API_LATENCY_MS.default
    db_query_ms: float = PERF_DB_QUERY_MS.default
    error_rate: float = PERF_ERROR_RATE.default
    service_name: str = UNKNOWN_SERVICE
    resource_attributes: tuple[tuple[str, str], ...] = OTEL_RESOURCE_ATTRIBUTES.default
    resource_detectors: tuple[str, ...] = OTEL_EXPERIMENTAL_RESOURCE_DETECTORS.default
    metrics_path: str | None = AZORA_METRICS_PATH.default
    metrics_port: int | None = AZORA_METRICS_PORT.default
    metrics_host: str = AZORA_METRICS_HOST.default
    error_rate_window_s: int = AZORA_ERROR_RATE_WINDOW_S.default
    log_format: str = AZORA_LOG_FORMAT.default
    fastapi_operation_spans: bool = AZORA_FASTAPI_OPERATION_SPANS.default
    sampling_gate: bool = AZORA_SAMPLING_GATE.default
    span_encoder: str = AZORA_SPAN_ENCODER.default
    server_span: str = AZORA_SERVER_SPAN.default
    metrics_recorder: str = AZORA_METRICS_RECORDER.default
    sdk_disabled: bool = OTEL_SDK_DISABLED.default
    traces_exporters: tuple[str, ...] = ()
    metrics_exporters: tuple[str, ...] = OTEL_METRICS_EXPORTER.default
    metric_export_interval_ms: float = OTEL_METRIC_EXPORT_INTERVAL.default
    exemplar_filter: str | None = OTEL_METRICS_EXEMPLAR_FILTER.default
    traces_otlp_protocol: str = OTEL_EXPORTER_OTLP_PROTOCOL.default
    metrics_otlp_protocol: str = OTEL_EXPORTER_OTLP_PROTOCOL.default
    credential_provider_signals: frozenset[str] = frozenset()
    """Signals whose OTLP/HTTP exporter takes its session from a credential provider."""
    traces_sampler: str = OTEL_TRACES_SAMPLER.default
    traces_sampler_arg: float = OTEL_TRACES_SAMPLER_ARG.default
    semconv_opt_in: frozenset[str] = OTEL_SEMCONV_STABILITY_OPT_IN.default
    disabled_instrumentations: frozenset[str] = OTEL_PYTHON_DISABLED_INSTRUMENTATIONS.default
    logger_provider: str | None = OTEL_PYTHON_LOGGER_PROVIDER.default
    metrics_access: MetricsAccess = OPEN
    """Who may read the exposition (``AZORA_METRICS_TOKEN[_FILE]``, ``..._ALLOWED_NETWORKS``)."""
    other_metrics: OtherMetrics = field(default_factory=OtherMetrics)
    """What is exported of other meters' metrics (``AZORA_OTHER_METRICS[_LIMIT]``)."""
    problems: tuple[str, ...] = field(default=(), compare=False)
    """Messages about invalid values that were replaced by their defaults."""

    def __post_init__(self) -> None:
        """Built in code or by :meth:`from_env`, a ``Settings`` holds only values its
        variables could give: anything else raises ``ValueError`` naming the field, the
        value and what was expected (in code a bad value is a programmer's error, not a
        deployment's, so it is not replaced by a default)."""
        check_fields(self, _FIELD_KINDS)

    @property
    def tracing_enabled(self) -> bool:
        return bool(self.traces_exporters)

    @property
    def prometheus_enabled(self) -> bool:
        return "prometheus" in self.metrics_exporters

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Parse the variables from ``environ`` (a mapping: tests pass a dict)."""
        problems: list[str] = []
        values = _Values(environ, problems)
        fields = _combine(values, problems)
        return cls(**fields, problems=tuple(problems))


class _Values:
    """Every row's value in one environment, looked up by row (typed by the row)."""

    def __init__(self, environ: Mapping[str, str], problems: list[str]) -> None:
        self._by_name = {v.name: v.read(environ, problems) for v in VARIABLES}

    def __getitem__(self, variable: Variable[T]) -> T:
        return cast(T, self._by_name[variable.name])


_COMBINED_KINDS: dict[str, Kind[object]] = {
    "service_name": Text(),
    "metrics_path": MetricsPath(),
    "traces_exporters": OTEL_TRACES_EXPORTER.kind,
    "metrics_access": InstanceOf(MetricsAccess, "a MetricsAccess"),
    "other_metrics": InstanceOf(OtherMetrics, "an OtherMetrics"),
    "traces_otlp_protocol": OTEL_EXPORTER_OTLP_PROTOCOL.kind,
    "metrics_otlp_protocol": OTEL_EXPORTER_OTLP_PROTOCOL.kind,
    "credential_provider_signals": Signals(),
}
"""What each field that several variables decide holds (see :func:`_combine`)."""

_COMBINED = frozenset(_COMBINED_KINDS)

_FIELD_KINDS: dict[str, Kind[object]] = {
    **{
        row.fields[0]: row.kind if row.default is not None else Maybe(row.kind)
        for row in VARIABLES
        if row.fields[0] not in _COMBINED
    },
    **_COMBINED_KINDS,
}
"""Every field's kind: its variable's (``None`` allowed where that is the default)."""


def _combine(v: _Values, problems: list[str]) -> dict[str, Any]:
    """The ``Settings`` fields from the rows' values: each field is its row's value,
    except these, which several variables decide together:

    - ``service_name``: ``OTEL_SERVICE_NAME``, else the ``service.name`` of
      ``OTEL_RESOURCE_ATTRIBUTES``, else ``unknown_service`` (the SDK's precedence);
    - ``metrics_path``: off when ``AZORA_METRICS_PORT`` is set (the port replaces it);
    - ``traces_exporters``: ``OTEL_TRACES_EXPORTER``; unset (or all unknown), ``otlp``
      when an OTLP endpoint is set, else none;
    - ``metrics_access``: the three protection variables, built and checked by
      :func:`azora_otel._access.access_from` (which reads the token file);
    - ``other_metrics``: ``AZORA_OTHER_METRICS`` with its label-set limit;
    - ``traces_otlp_protocol``/``metrics_otlp_protocol``: the signal's own variable,
      else ``OTEL_EXPORTER_OTLP_PROTOCOL`` (OpenTelemetry's rule);
    - ``credential_provider_signals``: the signals whose OTLP/HTTP exporter loads a
      credential provider: both when the general variable is set, else the signals
      whose own variable is (upstream reads the general one first).
    """
    fields: dict[str, Any] = {
        row.fields[0]: v[row] for row in VARIABLES if row.fields[0] not in _COMBINED
    }
    pairs: tuple[tuple[str, str], ...] = v[OTEL_RESOURCE_ATTRIBUTES]
    attributes = dict(pairs)
    endpoint = v[OTEL_EXPORTER_OTLP_TRACES_ENDPOINT] or v[OTEL_EXPORTER_OTLP_ENDPOINT]
    traces = v[OTEL_TRACES_EXPORTER]
    fields.update(
        service_name=v[OTEL_SERVICE_NAME] or attributes.get("service.name") or UNKNOWN_SERVICE,
        metrics_path=None if v[AZORA_METRICS_PORT] is not None else v[AZORA_METRICS_PATH],
        traces_exporters=traces if traces is not None else ("otlp",) if endpoint else (),
        metrics_access=access_from(
            v[AZORA_METRICS_TOKEN_FILE],
            v[AZORA_METRICS_TOKEN],
            v[AZORA_METRICS_ALLOWED_NETWORKS],
            problems,
        ),
        other_metrics=OtherMetrics(v[AZORA_OTHER_METRICS], v[AZORA_OTHER_METRICS_LIMIT]),
        traces_otlp_protocol=(
            v[OTEL_EXPORTER_OTLP_TRACES_PROTOCOL] or v[OTEL_EXPORTER_OTLP_PROTOCOL]
        ),
        metrics_otlp_protocol=(
            v[OTEL_EXPORTER_OTLP_METRICS_PROTOCOL] or v[OTEL_EXPORTER_OTLP_PROTOCOL]
        ),
        credential_provider_signals=frozenset(
            signal
            for signal, own in (
                ("traces", v[OTEL_PYTHON_EXPORTER_OTLP_HTTP_TRACES_CREDENTIAL_PROVIDER]),
                ("metrics", v[OTEL_PYTHON_EXPORTER_OTLP_HTTP_METRICS_CREDENTIAL_PROVIDER]),
            )
            if own or v[OTEL_PYTHON_EXPORTER_OTLP_HTTP_CREDENTIAL_PROVIDER]
        ),
    )
    return fields


__all__ = ["Settings"]
