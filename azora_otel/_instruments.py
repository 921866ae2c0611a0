"""The metric contract: instrument names, units, label keys, bucket boundaries and views.

The names are the Prometheus names of the specification. The duration
histograms carry the UCUM unit ``ms`` (true for OTLP consumers); the in-process
exposition and the bundled collector are both configured not to append a unit
suffix, because the names already end in ``_ms``.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Any

from opentelemetry.metrics import CallbackOptions, Counter, Histogram, Meter, Observation
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View

METER_NAME = "azora_otel"

HTTP_REQUEST_DURATION = "http_request_duration_ms"
HTTP_REQUESTS = "http_requests_total"
HTTP_ERROR_RATE = "http_error_rate"
SLOW_REQUESTS = "slow_requests_total"
DB_QUERY_DURATION = "db_query_duration_ms"
DB_QUERIES = "db_queries_total"
SLOW_QUERIES = "slow_queries_total"

CONTRACT_NAMES = frozenset(
    {
        HTTP_REQUEST_DURATION,
        HTTP_REQUESTS,
        HTTP_ERROR_RATE,
        SLOW_REQUESTS,
        DB_QUERY_DURATION,
        DB_QUERIES,
        SLOW_QUERIES,
    }
)
"""The seven metric names of the contract."""

HTTP_DURATION_BUCKETS_MS: tuple[float, ...] = (10, 50, 100, 200, 500, 1000, 2000, 5000)
DB_DURATION_BUCKETS_MS: tuple[float, ...] = (5, 10, 25, 50, 100, 250, 500, 1000)


def contract_views(exemplar_reservoir_factory: Any = None) -> tuple[View, ...]:
    """The contract's histogram views (bucket boundaries), with the SDK's default
    exemplar reservoir unless another factory is given."""
    return (
        View(
            instrument_name=HTTP_REQUEST_DURATION,
            meter_name=METER_NAME,
            aggregation=ExplicitBucketHistogramAggregation(HTTP_DURATION_BUCKETS_MS),
            exemplar_reservoir_factory=exemplar_reservoir_factory,
        ),
        View(
            instrument_name=DB_QUERY_DURATION,
            meter_name=METER_NAME,
            aggregation=ExplicitBucketHistogramAggregation(DB_DURATION_BUCKETS_MS),
            exemplar_reservoir_factory=exemplar_reservoir_factory,
        ),
    )


DEFAULT_VIEWS: tuple[View, ...] = contract_views()
"""Views the distro's meter provider is built with; extend with ``[*DEFAULT_VIEWS, View(...)]``."""


class ObservedCounts:
    """Exact per-label-set event counts, exported through an ``ObservableCounter``.

    ``http_requests_total`` and ``db_queries_total`` count one event per request or
    query. Counting with a dict increment here and letting the SDK read the totals at
    collection (an asynchronous counter, cumulative) costs well under a microsecond per
    event, where a synchronous ``Counter.add`` costs about 7 µs: it hashes the
    attributes, looks up the stream and aggregates on every call. The exported data is
    the same cumulative monotonic sum, for every reader (Prometheus, OTLP, in-memory).
    """

    __slots__ = ("_attributes", "_counts", "_lock")

    def __init__(self) -> None:
        self._counts: dict[Hashable, int] = {}
        self._attributes: dict[Hashable, dict[str, str]] = {}
        self._lock = threading.Lock()

    def add(self, key: Hashable, attributes: dict[str, str]) -> None:
        """Count one event for the label set ``attributes`` (identified by ``key``)."""
        with self._lock:
            count = self._counts.get(key)
            if count is None:
                self._attributes[key] = attributes
                self._counts[key] = 1
            else:
                self._counts[key] = count + 1

    def totals(self) -> dict[Hashable, int]:
        """A snapshot of the counts, by key."""
        with self._lock:
            return dict(self._counts)

    def observe(self, _options: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            totals = list(self._counts.items())
        return [Observation(count, self._attributes[key]) for key, count in totals]


@dataclass(frozen=True)
class Instruments:
    """The instruments, created once per meter provider."""

    request_duration: Histogram
    requests: ObservedCounts
    slow_requests: Counter
    query_duration: Histogram
    queries: ObservedCounts
    slow_queries: Counter

    @classmethod
    def create(cls, meter: Meter) -> Instruments:
        requests, queries = ObservedCounts(), ObservedCounts()
        meter.create_observable_counter(
            HTTP_REQUESTS,
            callbacks=[requests.observe],
            unit="1",
            description="HTTP requests served.",
        )
        meter.create_observable_counter(
            DB_QUERIES,
            callbacks=[queries.observe],
            unit="1",
            description="Database queries, by status (success, error).",
        )
        return cls(
            request_duration=meter.create_histogram(
                HTTP_REQUEST_DURATION,
                unit="ms",
                description="HTTP request duration, by method, route template and status code.",
                explicit_bucket_boundaries_advisory=list(HTTP_DURATION_BUCKETS_MS),
            ),
            requests=requests,
            slow_requests=meter.create_counter(
                SLOW_REQUESTS,
                unit="1",
                description="HTTP requests slower than PERF_API_LATENCY_MS.",
            ),
            query_duration=meter.create_histogram(
                DB_QUERY_DURATION,
                unit="ms",
                description="Database query duration, by operation and model (table).",
                explicit_bucket_boundaries_advisory=list(DB_DURATION_BUCKETS_MS),
            ),
            queries=queries,
            slow_queries=meter.create_counter(
                SLOW_QUERIES,
                unit="1",
                description="Database queries slower than PERF_DB_QUERY_MS.",
            ),
        )
