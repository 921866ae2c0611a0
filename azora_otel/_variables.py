"""Every environment variable the distro reads: one row each, the only place one is declared.

A row gives the variable's name, the ``Settings`` field(s) it feeds, its kind (how its
text is parsed and a value built in code checked), its default and one line of doc.
``Settings.from_env``, ``Settings``' own validation, the launcher's ``--help``,
``azora-otel check-config`` and the README's configuration table (checked by
``tests/test_readme.py``) are all derived from :data:`VARIABLES`, in its order.

A variable that feeds a field together with others (the service name, the traces
exporters' default, the exposition's protection, ...) still has one row here; the
rules that combine them are in ``azora_otel._settings`` (``_combine``).

Variables read by upstream code on its own (the OTLP exporters' endpoint, headers,
timeout, compression and certificates; the batch span processor's ``OTEL_BSP_*``;
the span limits ``OTEL_SPAN_*``/``OTEL_ATTRIBUTE_*``) keep their OpenTelemetry meaning
and are not rows: the distro makes no decision from them.
"""

from __future__ import annotations

from azora_otel._distro_kinds import (
    Detectors,
    Exporters,
    MeterRule,
    MetricsPath,
    ResourceAttributes,
)
from azora_otel._env import Variable
from azora_otel._kinds import Boolean, Choice, EntryPoint, Integer, Names, Number, Raw, Text

UNKNOWN_SERVICE = "unknown_service"
"""The service name unless ``OTEL_SERVICE_NAME`` or ``OTEL_RESOURCE_ATTRIBUTES`` gives one."""

_MS = "a positive number of milliseconds"
_PROTOCOL = Choice(("grpc", "http/protobuf"))
_CREDENTIALS = EntryPoint("opentelemetry_otlp_credential_provider", "OTLP credential provider")

# fmt: off
# A table: one row per variable, laid out by hand.

# -- thresholds -----------------------------------------------------------------------

PERF_API_LATENCY_MS = Variable(
    "PERF_API_LATENCY_MS", ("api_latency_ms",), Number(_MS), 100.0,
    "slow-request threshold, ms (positive number)",
)
PERF_DB_QUERY_MS = Variable(
    "PERF_DB_QUERY_MS", ("db_query_ms",), Number(_MS), 50.0,
    "slow-query threshold, ms (positive number)",
)
PERF_ERROR_RATE = Variable(
    "PERF_ERROR_RATE", ("error_rate",),
    Number("a number between 0 and 1", high=1.0, low_included=True), 0.001,
    "error-rate threshold, ratio from 0 to 1 (0.001 = 0.1 %)",
)

# -- the exposition -------------------------------------------------------------------

AZORA_METRICS_PATH = Variable(
    "AZORA_METRICS_PATH", ("metrics_path",), MetricsPath(), "/metrics",
    "path of the exposition (GET, HEAD) on the service's port, unless the app routes it "
    "itself; `off` disables it",
)
AZORA_METRICS_PORT = Variable[int | None](
    "AZORA_METRICS_PORT", ("metrics_port", "metrics_path"), Integer(1, 65535), None,
    "serve the exposition on its own port (1-65535) instead (and not on the service's)",
)
AZORA_METRICS_HOST = Variable(
    "AZORA_METRICS_HOST", ("metrics_host",), Text(), "127.0.0.1",
    "address that port binds to",
)
AZORA_METRICS_TOKEN_FILE = Variable[str | None](
    "AZORA_METRICS_TOKEN_FILE", ("metrics_access",), Raw(), None,
    "file holding a bearer token that scrapes of the exposition must send (read once at "
    "start-up)",
    blank_is_unset=False,
)
AZORA_METRICS_TOKEN = Variable[str | None](
    "AZORA_METRICS_TOKEN", ("metrics_access",), Raw(), None,
    "the same token given directly (prefer the file)",
    secret=True,
    blank_is_unset=False,
)
AZORA_METRICS_ALLOWED_NETWORKS = Variable[str | None](
    "AZORA_METRICS_ALLOWED_NETWORKS", ("metrics_access",), Raw(), None,
    "comma-separated networks/addresses whose clients may scrape (`10.0.0.0/8,192.168.1.7`); "
    "others get 403",
    blank_is_unset=False,
)
AZORA_OTHER_METRICS = Variable(
    "AZORA_OTHER_METRICS", ("other_metrics",), MeterRule(), "drop",
    "other meters' metrics: `drop`, `keep`, or a comma-separated list of meter names to keep",
)
AZORA_OTHER_METRICS_LIMIT = Variable(
    "AZORA_OTHER_METRICS_LIMIT", ("other_metrics",), Integer(1, 10_000), 200,
    "label sets per kept instrument of another meter (1-10000)",
)
AZORA_ERROR_RATE_WINDOW_S = Variable(
    "AZORA_ERROR_RATE_WINDOW_S", ("error_rate_window_s",), Integer(1, 3600), 60,
    "window of `http_error_rate`, seconds (1-3600)",
)

# -- logs and spans -------------------------------------------------------------------

AZORA_LOG_FORMAT = Variable(
    "AZORA_LOG_FORMAT", ("log_format",), Choice(("text", "json", "off")), "text",
    "`text` (key=value lines on stderr), `json` (one object per line), `off` (records go "
    "to your logging setup)",
)
AZORA_FASTAPI_OPERATION_SPANS = Variable(
    "AZORA_FASTAPI_OPERATION_SPANS", ("fastapi_operation_spans",), Boolean(), False,
    "keep FastAPI's per-operation spans (dependencies, endpoint, serialization)",
)
AZORA_SAMPLING_GATE = Variable(
    "AZORA_SAMPLING_GATE", ("sampling_gate",), Boolean(), True,
    "decide sampling before a span's attributes are built, so an unsampled request or query "
    "costs what metrics-only mode costs; `false` leaves every decision to the SDK's "
    "`start_span`",
)
AZORA_SPAN_ENCODER = Variable(
    "AZORA_SPAN_ENCODER", ("span_encoder",), Choice(("azora", "upstream")), "azora",
    "`azora` writes the OTLP span requests directly (the same bytes, about a seventh of the CPU); "
    "`upstream` uses the `opentelemetry-exporter-otlp` exporters exactly as they are",
)
AZORA_SERVER_SPAN = Variable(
    "AZORA_SERVER_SPAN", ("server_span",), Choice(("azora", "fastapi")), "azora",
    "FastAPI 0.150-0.165: `azora` builds FastAPI's own server span for a sampled request "
    "without the work FastAPI repeats per request (the same span, about a quarter less CPU "
    "per traced request); `fastapi` runs FastAPI's telemetry code",
)
AZORA_METRICS_RECORDER = Variable(
    "AZORA_METRICS_RECORDER", ("metrics_recorder",), Choice(("azora", "upstream")), "azora",
    "`azora` hands each duration measurement to the SDK's own aggregation with the "
    "per-label-set work done once, and keeps exemplars without a lock (the same data, about "
    "a third of the CPU); `upstream` uses the SDK's `Histogram.record`, exemplar filter and "
    "reservoir exactly as they are",
)

# -- OpenTelemetry's own --------------------------------------------------------------

OTEL_SDK_DISABLED = Variable(
    "OTEL_SDK_DISABLED", ("sdk_disabled",), Boolean(), False,
    "`true` boots nothing",
)
OTEL_SERVICE_NAME = Variable[str | None](
    "OTEL_SERVICE_NAME", ("service_name",), Text(), None,
    "the service (`job` in Prometheus through the Collector; the `service` label of "
    "`http_error_rate`)",
    default_doc=f"`service.name` of `OTEL_RESOURCE_ATTRIBUTES`, else `{UNKNOWN_SERVICE}`",
)
OTEL_RESOURCE_ATTRIBUTES = Variable(
    "OTEL_RESOURCE_ATTRIBUTES", ("resource_attributes", "service_name"),
    ResourceAttributes(), (),
    "`key=value` pairs, comma-separated, values percent-decoded: the resource of every "
    "metric and span",
)
OTEL_EXPERIMENTAL_RESOURCE_DETECTORS = Variable(
    "OTEL_EXPERIMENTAL_RESOURCE_DETECTORS", ("resource_detectors",), Detectors(), (),
    "more resource detectors to run (`process`, `os`, `host`, `*` for all installed)",
)
OTEL_METRICS_EXPORTER = Variable(
    "OTEL_METRICS_EXPORTER", ("metrics_exporters",),
    Exporters("metrics", "prometheus,otlp"), ("prometheus",),
    "`prometheus` = the in-process exposition; `otlp` pushes to a collector; "
    "`prometheus,otlp` does both; `none`",
)
OTEL_METRIC_EXPORT_INTERVAL = Variable(
    "OTEL_METRIC_EXPORT_INTERVAL", ("metric_export_interval_ms",),
    Number(f"{_MS} up to 86400000", high=86_400_000.0), 10_000.0,
    "OTLP push interval, ms: a number above 0 and at most 86400000 (one day), fractions "
    "allowed (the SDK's own default is 60000)",
)
OTEL_METRICS_EXEMPLAR_FILTER = Variable[str | None](
    "OTEL_METRICS_EXEMPLAR_FILTER", ("exemplar_filter",),
    Choice(("trace_based", "always_on", "always_off")), None,
    "which measurements carry an exemplar (the trace they were made in)",
    default_doc="`trace_based` with tracing, else `always_off`",
)
OTEL_TRACES_EXPORTER = Variable[tuple[str, ...] | None](
    "OTEL_TRACES_EXPORTER", ("traces_exporters",), Exporters("traces", "otlp"), None,
    "where spans go; `none` is metrics-only mode",
    default_doc="`otlp` if an OTLP endpoint is set, else `none`",
)
OTEL_EXPORTER_OTLP_ENDPOINT = Variable[str | None](
    "OTEL_EXPORTER_OTLP_ENDPOINT", ("traces_exporters",), Text(), None,
    "the OTLP exporters' endpoint (read by them); when set, spans are exported by default",
)
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = Variable[str | None](
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", ("traces_exporters",), Text(), None,
    "the same for spans only",
)
OTEL_EXPORTER_OTLP_PROTOCOL = Variable(
    "OTEL_EXPORTER_OTLP_PROTOCOL", ("traces_otlp_protocol", "metrics_otlp_protocol"),
    _PROTOCOL, "grpc",
    "the protocol of the `otlp` exporters: `grpc` or `http/protobuf`",
)
OTEL_EXPORTER_OTLP_TRACES_PROTOCOL = Variable[str | None](
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", ("traces_otlp_protocol",), _PROTOCOL, None,
    "the same for spans only",
    default_doc="`OTEL_EXPORTER_OTLP_PROTOCOL`",
)
OTEL_EXPORTER_OTLP_METRICS_PROTOCOL = Variable[str | None](
    "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", ("metrics_otlp_protocol",), _PROTOCOL, None,
    "the same for metrics only",
    default_doc="`OTEL_EXPORTER_OTLP_PROTOCOL`",
)
OTEL_PYTHON_EXPORTER_OTLP_HTTP_CREDENTIAL_PROVIDER = Variable[str | None](
    "OTEL_PYTHON_EXPORTER_OTLP_HTTP_CREDENTIAL_PROVIDER", ("credential_provider_signals",),
    _CREDENTIALS, None,
    "an installed credential provider that gives the OTLP/HTTP exporters their session",
)
OTEL_PYTHON_EXPORTER_OTLP_HTTP_TRACES_CREDENTIAL_PROVIDER = Variable[str | None](
    "OTEL_PYTHON_EXPORTER_OTLP_HTTP_TRACES_CREDENTIAL_PROVIDER", ("credential_provider_signals",),
    _CREDENTIALS, None,
    "the same for spans only",
)
OTEL_PYTHON_EXPORTER_OTLP_HTTP_METRICS_CREDENTIAL_PROVIDER = Variable[str | None](
    "OTEL_PYTHON_EXPORTER_OTLP_HTTP_METRICS_CREDENTIAL_PROVIDER", ("credential_provider_signals",),
    _CREDENTIALS, None,
    "the same for metrics only",
)
OTEL_TRACES_SAMPLER = Variable(
    "OTEL_TRACES_SAMPLER", ("traces_sampler",),
    Choice((
        "parentbased_always_on", "parentbased_always_off", "parentbased_traceidratio",
        "always_on", "always_off", "traceidratio",
    )),
    "parentbased_always_on",
    "the SDK's sampler; counts stay complete whatever it is",
)
OTEL_TRACES_SAMPLER_ARG = Variable(
    "OTEL_TRACES_SAMPLER_ARG", ("traces_sampler_arg",),
    Number("a number from 0 to 1", high=1.0, low_included=True), 1.0,
    "the ratio of the `traceidratio` samplers, 0 to 1",
)
OTEL_SEMCONV_STABILITY_OPT_IN = Variable(
    "OTEL_SEMCONV_STABILITY_OPT_IN", ("semconv_opt_in",), Names(lower=True), frozenset[str](),
    "`database` gives DB spans the stable attribute names, `database/dup` both sets",
)
OTEL_PYTHON_DISABLED_INSTRUMENTATIONS = Variable(
    "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", ("disabled_instrumentations",), Names(),
    frozenset[str](),
    "`fastapi`, `sqlalchemy` (and any other instrumentation), comma-separated",
)
OTEL_PYTHON_LOGGER_PROVIDER = Variable[str | None](
    "OTEL_PYTHON_LOGGER_PROVIDER", ("logger_provider",), Text(), None,
    "the OpenTelemetry API's logger provider, built by the API from this name",
)
# fmt: on

VARIABLES: tuple[Variable[object], ...] = (
    PERF_API_LATENCY_MS,
    PERF_DB_QUERY_MS,
    PERF_ERROR_RATE,
    AZORA_METRICS_PATH,
    AZORA_METRICS_PORT,
    AZORA_METRICS_HOST,
    AZORA_METRICS_TOKEN_FILE,
    AZORA_METRICS_TOKEN,
    AZORA_METRICS_ALLOWED_NETWORKS,
    AZORA_OTHER_METRICS,
    AZORA_OTHER_METRICS_LIMIT,
    AZORA_ERROR_RATE_WINDOW_S,
    AZORA_LOG_FORMAT,
    AZORA_FASTAPI_OPERATION_SPANS,
    AZORA_SAMPLING_GATE,
    AZORA_SPAN_ENCODER,
    AZORA_SERVER_SPAN,
    AZORA_METRICS_RECORDER,
    OTEL_SDK_DISABLED,
    OTEL_SERVICE_NAME,
    OTEL_RESOURCE_ATTRIBUTES,
    OTEL_EXPERIMENTAL_RESOURCE_DETECTORS,
    OTEL_METRICS_EXPORTER,
    OTEL_METRIC_EXPORT_INTERVAL,
    OTEL_METRICS_EXEMPLAR_FILTER,
    OTEL_TRACES_EXPORTER,
    OTEL_EXPORTER_OTLP_ENDPOINT,
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
    OTEL_EXPORTER_OTLP_PROTOCOL,
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL,
    OTEL_EXPORTER_OTLP_METRICS_PROTOCOL,
    OTEL_PYTHON_EXPORTER_OTLP_HTTP_CREDENTIAL_PROVIDER,
    OTEL_PYTHON_EXPORTER_OTLP_HTTP_TRACES_CREDENTIAL_PROVIDER,
    OTEL_PYTHON_EXPORTER_OTLP_HTTP_METRICS_CREDENTIAL_PROVIDER,
    OTEL_TRACES_SAMPLER,
    OTEL_TRACES_SAMPLER_ARG,
    OTEL_SEMCONV_STABILITY_OPT_IN,
    OTEL_PYTHON_DISABLED_INSTRUMENTATIONS,
    OTEL_PYTHON_LOGGER_PROVIDER,
)  # type: ignore[assignment]
"""The table, in the order the README, ``--help`` and ``check-config`` show it."""
