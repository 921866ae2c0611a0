"""OpenTelemetry metrics data to Prometheus metric families, with exemplars.

This replaces only the translation step of ``opentelemetry-exporter-prometheus``
(its ``_CustomCollector``), for three reasons the upstream step cannot meet:

- **exemplars**: the upstream step drops them; here each histogram bucket carries
  the trace of the last measurement that fell in it, which ``prometheus_client``
  renders when the scraper asks for OpenMetrics;
- **exact names**: the contract's names already end in their unit (``_ms``); the
  unit is not appended a second time (upstream would give ``_ms_milliseconds``);
- **one family per name**: two instruments that map to the same Prometheus name
  (two libraries' meters, or a name sanitised into another) would render two
  ``# HELP`` lines for one name, and Prometheus rejects such a scrape whole. The
  first one is kept and the others are reported once on the ``azora_otel`` logger.

Names, units and label keys otherwise follow the upstream exporter exactly (its
``_mapping`` helpers: the OpenTelemetry-to-Prometheus compatibility rules), so a
metric of another library is named as the upstream exporter would name it.
"""

from __future__ import annotations

import json
import logging
import threading
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from itertools import chain
from typing import Any

from opentelemetry.exporter.prometheus._mapping import (
    map_unit,
    sanitize_attribute,
    sanitize_full_name,
)
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Gauge,
    Histogram,
    HistogramDataPoint,
    Metric,
    MetricsData,
    Sum,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.core import Metric as Family
from prometheus_client.samples import Exemplar, Timestamp

from azora_otel._instruments import METER_NAME

_log = logging.getLogger("azora_otel")

_ABBREVIATED_UNITS = {"ms": "_ms", "s": "_s", "By": "_bytes"}
"""Units whose abbreviation ending the name stands for the unit: no suffix is added."""

_AttributesKey = tuple[tuple[str, str], ...]
_SeriesKey = tuple[str, str, _AttributesKey]
"""(instrumentation scope, metric name, attributes) of one histogram series."""


def _attributes_key(attributes: Any) -> _AttributesKey:
    return tuple(sorted((str(k), str(v)) for k, v in (attributes or {}).items()))


def _label_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


class ExemplarStore:
    """The last exemplar of every histogram bucket, kept across collections.

    The SDK hands each exemplar to one collection only, and a collection may come
    from a flush rather than a scrape; like the Prometheus client libraries, the
    exposition shows a bucket's last exemplar until a newer one replaces it. Only
    series present in the latest collection are kept, so the store is bounded by
    the histograms' own series.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[_SeriesKey, dict[int, Exemplar]] = {}

    def update(self, data: MetricsData) -> None:
        """Merge the exemplars of one collection (called for every collection)."""
        kept: dict[_SeriesKey, dict[int, Exemplar]] = {}
        with self._lock:
            for scope, metric in _metrics(data):
                if not isinstance(metric.data, Histogram):
                    continue
                for point in metric.data.data_points:
                    fresh = [e for e in point.exemplars or () if e.trace_id and e.span_id]
                    if not (fresh or self._buckets):
                        continue  # metrics-only mode: no exemplar ever, no work
                    key = (scope, metric.name, _attributes_key(point.attributes))
                    buckets = self._buckets.get(key)
                    if fresh:
                        buckets = dict(buckets or {})  # renders may be reading the old one
                        for exemplar in fresh:
                            index = bisect_left(point.explicit_bounds, exemplar.value)
                            buckets[index] = _exemplar(exemplar)
                    if buckets:
                        kept[key] = buckets
            self._buckets = kept

    def snapshot(self) -> dict[_SeriesKey, dict[int, Exemplar]]:
        with self._lock:
            return dict(self._buckets)


def _exemplar(exemplar: Any) -> Exemplar:
    return Exemplar(
        {
            "trace_id": format(exemplar.trace_id, "032x"),
            "span_id": format(exemplar.span_id, "016x"),
        },
        exemplar.value,
        Timestamp(*divmod(exemplar.time_unix_nano, 1_000_000_000)),
    )


def _metrics(data: MetricsData) -> Iterable[tuple[str, Metric]]:
    """``(meter name, metric)`` of a collection, the distro's own meter first: when
    another meter's metric would take a contract name, the contract's metric wins."""
    scopes = [sm for rm in data.resource_metrics for sm in rm.scope_metrics]
    scopes.sort(key=lambda sm: sm.scope.name != METER_NAME)
    for sm in scopes:
        for metric in sm.metrics:
            yield sm.scope.name, metric


def _family(metric: Metric, labelnames: Sequence[str]) -> Family | None:
    name = sanitize_full_name(metric.name)
    suffix = _ABBREVIATED_UNITS.get(metric.unit or "")
    unit = "" if suffix is not None and name.endswith(suffix) else map_unit(metric.unit or "")
    documentation = metric.description or ""
    data = metric.data
    cls: Any = None
    if isinstance(data, Sum):
        monotonic_cumulative = (
            data.is_monotonic and data.aggregation_temporality == AggregationTemporality.CUMULATIVE
        )
        cls = CounterMetricFamily if monotonic_cumulative else GaugeMetricFamily
    elif isinstance(data, Gauge):
        cls = GaugeMetricFamily
    elif isinstance(data, Histogram):
        cls = HistogramMetricFamily
    if cls is None:
        return None
    family: Family = cls(name, documentation, labels=labelnames, unit=unit)
    return family


def _claimed_names(family: Family) -> set[str]:
    """Every name the family's samples and comments use, in either text format."""
    name = family.name
    if family.type == "counter":
        return {name, f"{name}_total", f"{name}_created"}
    if family.type == "histogram":
        return {name, f"{name}_bucket", f"{name}_count", f"{name}_sum", f"{name}_created"}
    return {name}


def _labels(point: Any, histogram: bool) -> dict[str, str]:
    labels: dict[str, str] = {}
    for key, value in (point.attributes or {}).items():
        label = sanitize_attribute(str(key))
        if histogram and label == "le":  # would clash with the bucket label
            continue
        labels[label] = _label_value(value)
    return labels


def _buckets(
    point: HistogramDataPoint, exemplars: dict[int, Exemplar]
) -> Sequence[tuple[str, float] | tuple[str, float, Exemplar]]:
    buckets: list[tuple[str, float] | tuple[str, float, Exemplar]] = []
    total = 0
    for index, (bound, count) in enumerate(
        zip(chain(point.explicit_bounds, ["+Inf"]), point.bucket_counts, strict=False)
    ):
        total += count
        exemplar = exemplars.get(index)
        buckets.append((f"{bound}", total) if exemplar is None else (f"{bound}", total, exemplar))
    return buckets


def _rows(metric: Metric) -> tuple[list[str], list[tuple[tuple[str, ...], Any]]]:
    """Label names and ``(label values, point)`` of every point, one row per label set."""
    histogram = isinstance(metric.data, Histogram)
    labelled = [(_labels(p, histogram), p) for p in metric.data.data_points]
    names = sorted({k for labels, _ in labelled for k in labels})
    rows: list[tuple[tuple[str, ...], Any]] = []
    seen: set[tuple[str, ...]] = set()
    for labels, point in labelled:
        values = tuple(labels.get(k, "") for k in names)
        if values not in seen:  # two attribute sets sanitised into one label set: keep one
            seen.add(values)
            rows.append((values, point))
    return names, rows


def _add_samples(
    family: Any,
    scope: str,
    metric: Metric,
    rows: list[tuple[tuple[str, ...], Any]],
    exemplars: dict[_SeriesKey, dict[int, Exemplar]],
) -> None:
    for values, point in rows:
        if isinstance(point, HistogramDataPoint):
            key = (scope, metric.name, _attributes_key(point.attributes))
            family.add_metric(values, _buckets(point, exemplars.get(key, {})), point.sum)
        else:
            family.add_metric(values, point.value)


class _Reporter:
    """Says once per name that a metric was left out of the exposition."""

    def __init__(self) -> None:
        self._said: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def once(self, key: tuple[str, str], message: str, *args: object) -> None:
        with self._lock:
            if key in self._said or len(self._said) >= 1000:
                return
            self._said.add(key)
        _log.warning(message, *args)


_report = _Reporter()


def translate(
    data: MetricsData | None, exemplars: dict[_SeriesKey, dict[int, Exemplar]]
) -> list[Family]:
    """The Prometheus families of one collection, one family per name."""
    if data is None:
        return []
    families: list[Family] = []
    owners: dict[str, tuple[str, str]] = {}
    for scope, metric in _metrics(data):
        labelnames, rows = _rows(metric)
        family = _family(metric, labelnames)
        if family is None:
            _report.once(
                ("type", metric.name),
                "azora-otel: metric %s (meter %s) has a data type the exposition cannot "
                "show (%s); it is left out",
                metric.name,
                scope,
                type(metric.data).__name__,
            )
            continue
        claimed = _claimed_names(family)
        clash = next((owners[n] for n in sorted(claimed) if n in owners), None)
        if clash is not None:
            _report.once(
                ("name", f"{scope}/{metric.name}"),
                "azora-otel: metric %s (meter %s) would use the Prometheus name %s of "
                "metric %s (meter %s); it is left out of the exposition",
                metric.name,
                scope,
                family.name,
                clash[1],
                clash[0],
            )
            continue
        owners.update(dict.fromkeys(claimed, (scope, metric.name)))
        _add_samples(family, scope, metric, rows, exemplars)
        families.append(family)
    return families
