"""The in-process Prometheus exposition (the embedded default): collect, translate, render.

Built on ``opentelemetry-exporter-prometheus``'s reader (its temporality choices and
its place among the SDK's readers), with two parts of the upstream exporter
replaced:

- **The hand-off.** Upstream queues every collection's data and drains the queue
  on the next render. A collection made by anything but a render (the distro's
  flush at shutdown, a ``TestClient`` block ending, a user's ``force_flush()``)
  stays queued, and the next render shows every family twice, once with stale
  values: duplicate ``# HELP`` lines, which Prometheus rejects as a whole scrape.
  Here the reader keeps the latest collection only; a render collects and then
  translates that one. Data is cumulative, so the latest collection holds
  everything earlier ones did.
- **The translation** (:mod:`azora_otel._promtranslate`): exact names, one family
  per name, and exemplars in OpenMetrics.

Every render (``GET /metrics`` on the app's port, the separate port, ``get_metrics()``)
goes through :meth:`ExactNamePrometheusReader.render`, under one lock: renders
never interleave, and a scrape storm costs one render at a time.
"""

from __future__ import annotations

import threading
from typing import Any

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics.export import MetricsData
from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric as Family
from prometheus_client.exposition import choose_encoder, generate_latest

from azora_otel._access import OPEN, MetricsAccess
from azora_otel._promtranslate import ExemplarStore, translate

TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _Families:
    """What ``prometheus_client``'s encoders read: an object whose ``collect()`` yields
    the families."""

    def __init__(self, families: list[Family]) -> None:
        self._families = families

    def collect(self) -> list[Family]:
        return self._families


class ExactNamePrometheusReader(PrometheusMetricReader):
    """The in-process exposition: the latest collection rendered as Prometheus text or
    OpenMetrics, with the contract's names exactly as they are.

    ``access`` is who may read it (:class:`~azora_otel._access.MetricsAccess`); the
    distro sets it from the settings when it builds its telemetry.
    """

    def __init__(self) -> None:
        # The upstream collector goes to a registry of its own that nothing renders:
        # its queue is never filled (``_receive_metrics`` below keeps the data).
        super().__init__(
            disable_target_info=True,
            scope_info_enabled=False,
            registry=CollectorRegistry(auto_describe=False),
        )
        self._render_lock = threading.Lock()
        self._data_lock = threading.Lock()
        self._latest: MetricsData | None = None
        self._exemplars = ExemplarStore()
        self.access: MetricsAccess = OPEN

    def _receive_metrics(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> None:
        if metrics_data is None:
            return
        with self._data_lock:
            self._latest = metrics_data
        self._exemplars.update(metrics_data)

    def families(self) -> list[Family]:
        """Collect now and translate: the Prometheus families, current values."""
        with self._data_lock:
            self._latest = None  # a collection with no data at all renders nothing
        self.collect()
        with self._data_lock:
            data = self._latest
        return translate(data, self._exemplars.snapshot())

    def render(self, accept: str | None = None) -> tuple[bytes, str]:
        """The exposition and its content type (OpenMetrics when ``accept`` asks for it)."""
        with self._render_lock:
            families = _Families(self.families())
            if accept is None:
                return generate_latest(families), TEXT_CONTENT_TYPE
            encoder, content_type = choose_encoder(accept)
            return encoder(families), content_type
