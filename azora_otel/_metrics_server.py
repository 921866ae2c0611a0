"""The exposition on a port of its own (``AZORA_METRICS_PORT``), bound to 127.0.0.1 by default."""

from __future__ import annotations

import logging

from prometheus_client import start_http_server

from azora_otel._telemetry import Telemetry

_log = logging.getLogger("azora_otel")


def start_metrics_server(telemetry: Telemetry, host: str, port: int) -> None:
    """Serve ``/metrics`` on ``host:port`` from a daemon thread; logs instead of raising."""
    if telemetry.prometheus is None:
        return
    try:
        start_http_server(port, addr=host, registry=telemetry.prometheus.registry)
    except OSError as exc:
        _log.error(
            "azora-otel: cannot serve metrics on %s:%d (%s); the service keeps running "
            "without that port (several workers cannot share it: use the collector)",
            host,
            port,
            exc,
        )
