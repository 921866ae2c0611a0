"""The in-process Prometheus exposition (the embedded default).

Built on ``opentelemetry-exporter-prometheus``'s reader with its own registry,
without ``otel_scope_*`` labels and without ``target_info``, so the text holds
exactly the contract's series. The exporter appends a unit suffix to every name
(``ms`` becomes ``_milliseconds``); the contract's names already end in the unit,
so the reader hands the exporter metrics whose name ends with the unit's
abbreviation without their unit.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics.export import MetricsData
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder, generate_latest

_UNIT_SUFFIXES = {"ms": "_ms", "s": "_s", "By": "_bytes"}


def _strip_spelled_out_units(data: MetricsData) -> MetricsData:
    resource_metrics = []
    for rm in data.resource_metrics:
        scope_metrics = []
        for sm in rm.scope_metrics:
            metrics = [
                replace(m, unit="")
                if m.unit in _UNIT_SUFFIXES and m.name.endswith(_UNIT_SUFFIXES[m.unit])
                else m
                for m in sm.metrics
            ]
            scope_metrics.append(replace(sm, metrics=metrics))
        resource_metrics.append(replace(rm, scope_metrics=scope_metrics))
    return replace(data, resource_metrics=resource_metrics)


class ExactNamePrometheusReader(PrometheusMetricReader):
    """A Prometheus reader whose exposition keeps the instruments' names as they are."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        # The exporter's collector queues each collection's data and drains the queue
        # while rendering: two scrapes at once could each render the other's data too.
        self._render_lock = threading.Lock()
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        super().__init__(disable_target_info=True, scope_info_enabled=False, registry=self.registry)

    def _receive_metrics(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> None:
        if metrics_data is None:
            return
        super()._receive_metrics(_strip_spelled_out_units(metrics_data), timeout_millis, **kwargs)

    def render(self, accept: str | None = None) -> tuple[bytes, str]:
        """The exposition and its content type (OpenMetrics when ``accept`` asks for it)."""
        with self._render_lock:
            if accept is None:
                return generate_latest(self.registry), "text/plain; version=0.0.4; charset=utf-8"
            encoder, content_type = choose_encoder(accept)
            return encoder(self.registry), content_type
