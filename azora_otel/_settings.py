"""Settings: every environment variable the distro reads, parsed once into one frozen object.

Policy for bad values: **warn and use the default.** Monitoring must never stop
the service it watches, so an invalid value is reported (the message names the
variable, the value and what was expected) and the documented default is used.
``azora-otel check-config`` exits non-zero on the same problems, for pipelines
that want to refuse a bad configuration before deploying it.

Standard ``OTEL_*`` variables keep their OpenTelemetry meaning; the few that the
distro interprets itself are listed here too. The exposition's access variables
(``AZORA_METRICS_TOKEN``, ``AZORA_METRICS_TOKEN_FILE``, ``AZORA_METRICS_ALLOWED_NETWORKS``)
are documented in :mod:`azora_otel._access`, ``AZORA_OTHER_METRICS`` and
``AZORA_OTHER_METRICS_LIMIT`` in :mod:`azora_otel._other_metrics`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from azora_otel._access import OPEN, MetricsAccess, parse_access
from azora_otel._other_metrics import OtherMetrics
from azora_otel._other_metrics import parse as parse_other_metrics

DEFAULT_API_LATENCY_MS = 100.0
"""Default of ``PERF_API_LATENCY_MS``: the seed's API P95 target. The ops tools' targets
table (``azora_otel._ops.targets``) takes its P95 target from here."""

DEFAULT_DB_QUERY_MS = 50.0
"""Default of ``PERF_DB_QUERY_MS``: the seed's database P95 target."""

DEFAULT_ERROR_RATE = 0.001
"""Default of ``PERF_ERROR_RATE`` (0.1 %): the seed's error-rate warning level."""

PERF_API_LATENCY_MS = "PERF_API_LATENCY_MS"
"""Slow-request threshold in milliseconds (positive number). Default 100."""

PERF_DB_QUERY_MS = "PERF_DB_QUERY_MS"
"""Slow-query threshold in milliseconds (positive number). Default 50."""

PERF_ERROR_RATE = "PERF_ERROR_RATE"
"""Error-rate threshold as a ratio between 0 and 1. Default 0.001 (0.1 %)."""

AZORA_METRICS_PATH = "AZORA_METRICS_PATH"
"""Path on the service's own port that serves the Prometheus exposition.
Default ``/metrics``; ``off`` disables it. Scrapes of it are not counted."""

AZORA_METRICS_PORT = "AZORA_METRICS_PORT"
"""Serve the exposition on a separate port instead (1-65535). Unset by default.
When set, the path on the service's own port is disabled."""

AZORA_METRICS_HOST = "AZORA_METRICS_HOST"
"""Address the separate metrics port binds to. Default ``127.0.0.1``."""

AZORA_ERROR_RATE_WINDOW_S = "AZORA_ERROR_RATE_WINDOW_S"
"""Sliding window behind ``http_error_rate``, whole seconds (1-3600). Default 60."""

AZORA_LOG_FORMAT = "AZORA_LOG_FORMAT"
"""Where threshold-violation records of the ``azora_otel`` logger go: ``text`` (default,
one key=value line on stderr), ``json`` (one JSON object per line on stderr) or
``off`` (no handler of ours: records propagate to the application's logging)."""

AZORA_FASTAPI_OPERATION_SPANS = "AZORA_FASTAPI_OPERATION_SPANS"
"""``true`` keeps FastAPI's native per-operation spans (dependencies, endpoint,
serialization) on FastAPI >= 0.142. Default ``false``: one server span per request."""

AZORA_SAMPLING_GATE = "AZORA_SAMPLING_GATE"
"""``true`` (default) decides sampling before a span's attributes are built, so a request
or query the sampler drops costs what metrics-only mode costs (for the SDK's own
samplers; custom samplers always go through the SDK). ``false`` leaves every
decision to the SDK's ``start_span``."""

AZORA_SPAN_ENCODER = "AZORA_SPAN_ENCODER"
"""How the OTLP span exporters build their requests: ``azora`` (default) writes the
protobuf bytes directly, with the repeated parts cached (the same bytes, about a
seventh of the CPU); ``upstream`` uses the exporters of ``opentelemetry-exporter-otlp``
exactly as they are."""

OTEL_SDK_DISABLED = "OTEL_SDK_DISABLED"
OTEL_SERVICE_NAME = "OTEL_SERVICE_NAME"
OTEL_TRACES_EXPORTER = "OTEL_TRACES_EXPORTER"
"""Default: ``otlp`` when an OTLP endpoint is configured, else ``none`` (the embedded
default needs no infrastructure)."""
OTEL_METRICS_EXPORTER = "OTEL_METRICS_EXPORTER"
"""Comma-separated. ``prometheus`` (default) is the in-process exposition on the
service's port; ``otlp`` pushes to a collector; both at once work; ``none``."""
OTEL_PYTHON_DISABLED_INSTRUMENTATIONS = "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"
OTEL_EXPORTER_OTLP_ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
OTEL_EXPORTER_OTLP_METRICS_ENDPOINT = "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"
OTEL_METRIC_EXPORT_INTERVAL = "OTEL_METRIC_EXPORT_INTERVAL"
"""Push interval of OTLP metrics in milliseconds (a positive number up to 86400000).
Default 10000 (the SDK's own default is 60000). Zero, negative or infinite values
would stop the periodic push altogether, so they are reported and replaced."""

DEFAULT_EXPORT_INTERVAL_MS = 10_000.0
_MAX_EXPORT_INTERVAL_MS = 86_400_000.0

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})
_LOG_FORMATS = ("text", "json", "off")
_SPAN_ENCODERS = ("azora", "upstream")


@dataclass(frozen=True)
class Settings:
    """The distro's configuration. Build it with :meth:`from_env`."""

    api_latency_ms: float = DEFAULT_API_LATENCY_MS
    db_query_ms: float = DEFAULT_DB_QUERY_MS
    error_rate: float = DEFAULT_ERROR_RATE
    service_name: str = "unknown_service"
    metrics_path: str | None = "/metrics"
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    error_rate_window_s: int = 60
    log_format: str = "text"
    fastapi_operation_spans: bool = False
    sampling_gate: bool = True
    span_encoder: str = "azora"
    sdk_disabled: bool = False
    traces_exporters: tuple[str, ...] = ()
    metrics_exporters: tuple[str, ...] = ("prometheus",)
    metric_export_interval_ms: float = DEFAULT_EXPORT_INTERVAL_MS
    disabled_instrumentations: frozenset[str] = frozenset()
    metrics_access: MetricsAccess = OPEN
    """Who may read the exposition (``AZORA_METRICS_TOKEN[_FILE]``, ``..._ALLOWED_NETWORKS``)."""
    other_metrics: OtherMetrics = field(default_factory=OtherMetrics)
    """What is exported of other meters' metrics (``AZORA_OTHER_METRICS[_LIMIT]``)."""
    problems: tuple[str, ...] = field(default=(), compare=False)
    """Messages about invalid values that were replaced by their defaults."""

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
        defaults = cls()

        def number(
            name: str,
            default: float,
            *,
            upper: float = math.inf,
            zero_ok: bool = False,
            expected: str = "a positive number of milliseconds",
        ) -> float:
            raw = environ.get(name)
            if raw is None:
                return default
            try:
                value = float(raw.strip())
            except ValueError:
                value = math.nan
            low_ok = value >= 0 if zero_ok else value > 0
            if not (math.isfinite(value) and low_ok and value <= upper):
                problems.append(_problem(name, raw, expected, default))
                return default
            return value

        def integer(name: str, default: int | None, low: int, high: int) -> int | None:
            raw = environ.get(name)
            if raw is None or (default is None and raw.strip() == ""):
                return default
            try:
                value = int(raw.strip())
            except ValueError:
                value = low - 1
            if not low <= value <= high:
                problems.append(
                    _problem(name, raw, f"a whole number from {low} to {high}", default)
                )
                return default
            return value

        def boolean(name: str, default: bool) -> bool:
            raw = environ.get(name)
            if raw is None:
                return default
            word = raw.strip().lower()
            if word in _TRUE:
                return True
            if word in _FALSE:
                return False
            problems.append(_problem(name, raw, "true or false", default))
            return default

        def choice(name: str, default: str, options: tuple[str, ...]) -> str:
            raw = environ.get(name)
            if raw is None:
                return default
            word = raw.strip().lower()
            if word not in options:
                problems.append(_problem(name, raw, "one of " + ", ".join(options), default))
                return default
            return word

        metrics_path = _metrics_path(environ.get(AZORA_METRICS_PATH), defaults, problems)
        metrics_access, access_problems = parse_access(environ)
        problems.extend(access_problems)
        other_metrics = parse_other_metrics(environ, problems)
        metrics_port = integer(AZORA_METRICS_PORT, None, 1, 65535)
        if metrics_port is not None:
            metrics_path = None

        return cls(
            api_latency_ms=number(PERF_API_LATENCY_MS, defaults.api_latency_ms),
            db_query_ms=number(PERF_DB_QUERY_MS, defaults.db_query_ms),
            error_rate=number(
                PERF_ERROR_RATE,
                defaults.error_rate,
                upper=1.0,
                zero_ok=True,
                expected="a number between 0 and 1",
            ),
            service_name=_service_name(environ),
            metrics_path=metrics_path,
            metrics_port=metrics_port,
            metrics_host=(environ.get(AZORA_METRICS_HOST) or "").strip() or defaults.metrics_host,
            error_rate_window_s=integer(AZORA_ERROR_RATE_WINDOW_S, 60, 1, 3600) or 60,
            log_format=choice(AZORA_LOG_FORMAT, defaults.log_format, _LOG_FORMATS),
            fastapi_operation_spans=boolean(AZORA_FASTAPI_OPERATION_SPANS, False),
            sampling_gate=boolean(AZORA_SAMPLING_GATE, True),
            span_encoder=choice(AZORA_SPAN_ENCODER, defaults.span_encoder, _SPAN_ENCODERS),
            sdk_disabled=boolean(OTEL_SDK_DISABLED, False),
            traces_exporters=_traces_exporters(environ, problems),
            metrics_exporters=_metrics_exporters(environ, problems),
            metric_export_interval_ms=number(
                OTEL_METRIC_EXPORT_INTERVAL,
                defaults.metric_export_interval_ms,
                upper=_MAX_EXPORT_INTERVAL_MS,
                expected=f"a positive number of milliseconds up to {_MAX_EXPORT_INTERVAL_MS:.0f}",
            ),
            disabled_instrumentations=frozenset(
                part.strip()
                for part in environ.get(OTEL_PYTHON_DISABLED_INSTRUMENTATIONS, "").split(",")
                if part.strip()
            ),
            metrics_access=metrics_access,
            other_metrics=other_metrics,
            problems=tuple(problems),
        )


def _problem(name: str, raw: str, expected: str, default: object) -> str:
    shown = (
        "unset" if default is None else f"{default:g}" if isinstance(default, float) else default
    )
    return f"invalid {name}={raw!r}: expected {expected}; using the default ({shown})"


def _metrics_path(raw: str | None, defaults: Settings, problems: list[str]) -> str | None:
    if raw is None:
        return defaults.metrics_path
    value = raw.strip()
    if value.lower() in {"off", "none", "false"}:
        return None
    if not value.startswith("/") or any(c.isspace() or c in "?#" for c in value):
        problems.append(
            _problem(
                AZORA_METRICS_PATH,
                raw,
                "an absolute path such as /metrics, or off",
                defaults.metrics_path,
            )
        )
        return defaults.metrics_path
    return value


def _service_name(environ: Mapping[str, str]) -> str:
    name = (environ.get(OTEL_SERVICE_NAME) or "").strip()
    if name:
        return name
    for pair in environ.get("OTEL_RESOURCE_ATTRIBUTES", "").split(","):
        key, sep, value = pair.partition("=")
        if sep and key.strip() == "service.name" and value.strip():
            return value.strip()
    return "unknown_service"


def _split(raw: str) -> tuple[str, ...]:
    return tuple(part.strip().lower() for part in raw.split(",") if part.strip())


def _known_exporters(signal: str) -> frozenset[str]:
    """Exporter names the upstream configurator resolves for ``signal``."""
    from importlib.metadata import entry_points  # noqa: PLC0415 - only when a name is given

    names = {e.name for e in entry_points(group=f"opentelemetry_{signal}_exporter")}
    return frozenset({*names, "otlp", "none"})


def _known_only(
    name: str, raw: str, *, names: tuple[str, ...], signal: str, problems: list[str], default: str
) -> tuple[str, ...]:
    """``names`` without those no installed exporter provides (each one reported)."""
    known = _known_exporters(signal)
    unknown = [n for n in names if n not in known]
    if unknown:
        problems.append(
            f"invalid {name}={raw!r}: no installed exporter is called "
            + ", ".join(repr(n) for n in unknown)
            + f" (known: {', '.join(sorted(known))}); "
            + ("ignoring it" if len(unknown) < len(names) else f"using the default ({default})")
        )
    return tuple(n for n in names if n in known)


def _traces_exporters(environ: Mapping[str, str], problems: list[str]) -> tuple[str, ...]:
    raw = environ.get(OTEL_TRACES_EXPORTER)
    endpoint = environ.get(OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) or environ.get(
        OTEL_EXPORTER_OTLP_ENDPOINT
    )
    default: tuple[str, ...] = ("otlp",) if endpoint else ()
    if raw is None or not raw.strip():
        return default
    names = _split(raw)
    if "none" in names:
        return ()
    known = _known_only(
        OTEL_TRACES_EXPORTER,
        raw,
        names=names,
        signal="traces",
        problems=problems,
        default=",".join(default) or "none",
    )
    return tuple(dict.fromkeys(known)) if known else default


def _metrics_exporters(environ: Mapping[str, str], problems: list[str]) -> tuple[str, ...]:
    raw = environ.get(OTEL_METRICS_EXPORTER)
    if raw is None:
        return ("prometheus",)
    names = _split(raw)
    if not names:
        problems.append(
            _problem(
                OTEL_METRICS_EXPORTER,
                raw,
                "a comma-separated list such as prometheus,otlp",
                "prometheus",
            )
        )
        return ("prometheus",)
    if "none" in names:
        return ()
    known = _known_only(
        OTEL_METRICS_EXPORTER,
        raw,
        names=names,
        signal="metrics",
        problems=problems,
        default="prometheus",
    )
    return tuple(dict.fromkeys(known)) if known else ("prometheus",)


__all__ = ["Settings"]
