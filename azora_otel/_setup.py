"""The explicit, code-first way in: ``configure()``, then ``instrument_app(app)``
(:mod:`azora_otel._fastapi`); ``get_metrics()``, ``get_performance_stats()``,
``shutdown()``."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from http.server import ThreadingHTTPServer
from typing import Any

from opentelemetry import metrics, trace

from azora_otel import _state
from azora_otel._fastapi import instrument_every_app
from azora_otel._logs import install_handler, rate_limit_exporter_logs
from azora_otel._metrics_server import start_metrics_server
from azora_otel._settings import Settings
from azora_otel._sqlalchemy import instrument_every_engine
from azora_otel._stats import PerformanceStats, performance_stats
from azora_otel._telemetry import Telemetry
from azora_otel._version import __version__

_log = logging.getLogger("azora_otel")
_metrics_server: ThreadingHTTPServer | None = None


def configure(
    settings: Settings | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    set_global_providers: bool = True,
    auto_instrument: bool = False,
) -> Telemetry | None:
    """Boot the distro for this process and return it (``None`` when ``OTEL_SDK_DISABLED``).

    ``settings`` defaults to ``Settings.from_env(environ or os.environ)``. Invalid values
    are reported on the ``azora_otel`` logger and replaced by their defaults.
    ``auto_instrument`` also instruments every FastAPI app created from now on (what
    ``azora-otel-instrument`` does); otherwise call ``instrument_app``.

    A second call returns the distro the first one built (the OpenTelemetry globals can
    be set only once per process); call :func:`shutdown` first to rebuild it.
    """
    existing = _state.peek()
    if existing is not None:
        _log.debug("azora-otel is already configured in this process")
        if auto_instrument:
            _instrument_everything(existing.settings)
        return existing
    if settings is None:
        settings = Settings.from_env(os.environ if environ is None else environ)
    install_handler(settings.log_format)
    for problem in settings.problems:
        _log.warning(
            "azora-otel: %s",
            problem,
            extra={"azora": {"event": "config_error", "message": problem}},
        )
    if settings.sdk_disabled:
        _log.info("azora-otel: OTEL_SDK_DISABLED=true, nothing is instrumented")
        return None
    rate_limit_exporter_logs()
    telemetry = Telemetry.build(settings)
    if set_global_providers:
        metrics.set_meter_provider(telemetry.meter_provider)
        if telemetry.tracer_provider is not None:
            trace.set_tracer_provider(telemetry.tracer_provider)
    _state.install(telemetry)
    if settings.metrics_port is not None and telemetry.prometheus is not None:
        global _metrics_server  # noqa: PLW0603 - one per configured distro
        _metrics_server = start_metrics_server(
            telemetry.prometheus, settings.metrics_host, settings.metrics_port
        )
    if auto_instrument:
        _instrument_everything(settings)
    _log.info("azora-otel %s started", __version__, extra={"azora": _banner(settings)})
    return telemetry


def _instrument_everything(settings: Settings) -> None:
    """Every FastAPI app and SQLAlchemy engine of the process, unless disabled."""
    if "fastapi" not in settings.disabled_instrumentations:
        instrument_every_app()
    if "sqlalchemy" not in settings.disabled_instrumentations:
        instrument_every_engine()


def _banner(settings: Settings) -> dict[str, Any]:
    if settings.metrics_port is not None:
        exposition = f"http://{settings.metrics_host}:{settings.metrics_port}/metrics"
    else:
        exposition = settings.metrics_path or "off"
    return {
        "event": "started",
        "version": __version__,
        "service": settings.service_name,
        "pid": os.getpid(),
        "metrics": ",".join(settings.metrics_exporters) or "none",
        "exposition": exposition if settings.prometheus_enabled else "off",
        "exposition_access": settings.metrics_access.protection,
        "other_metrics": settings.other_metrics.rule,
        "traces": ",".join(settings.traces_exporters) or "none",
        "api_latency_ms": settings.api_latency_ms,
        "db_query_ms": settings.db_query_ms,
        "error_rate": settings.error_rate,
    }


def _require(telemetry: Telemetry | None) -> Telemetry:
    current = telemetry or _state.get_or_rebuild()
    if current is None:
        raise RuntimeError(
            "azora-otel is not configured: run under azora-otel-instrument or call "
            "azora_otel.configure() first"
        )
    return current


def get_metrics(telemetry: Telemetry | None = None) -> str:
    """The Prometheus text exposition of this process (what ``GET /metrics`` serves)."""
    current = _require(telemetry)
    if current.prometheus is None:
        raise RuntimeError(
            "the in-process exposition is off: OTEL_METRICS_EXPORTER does not include prometheus"
        )
    return current.prometheus.render()[0].decode("utf-8")


def get_performance_stats(telemetry: Telemetry | None = None) -> PerformanceStats:
    """Requests, errors, error rates, slow requests, P50/P95/P99 and thresholds."""
    return performance_stats(_require(telemetry))


def shutdown() -> None:
    """Flush the last metrics and spans, stop the exporters and the metrics port."""
    global _metrics_server
    _state.shut_down_and_forget()
    server, _metrics_server = _metrics_server, None
    if server is not None:
        server.shutdown()
        server.server_close()
