"""The metric contract: instrument names, units, label keys, bucket boundaries and views.

The names are the Prometheus names of the specification. The duration
histograms carry the UCUM unit ``ms`` (true for OTLP consumers); the in-process
exposition and the bundled collector are both configured not to append a unit
suffix, because the names already end in ``_ms``.
"""

from __future__ import annotations

from dataclasses import dataclass

from opentelemetry.metrics import Counter, Histogram, Meter
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View

METER_NAME = "azora_otel"

HTTP_REQUEST_DURATION = "http_request_duration_ms"
HTTP_REQUESTS = "http_requests_total"
HTTP_ERROR_RATE = "http_error_rate"
SLOW_REQUESTS = "slow_requests_total"
DB_QUERY_DURATION = "db_query_duration_ms"
DB_QUERIES = "db_queries_total"
SLOW_QUERIES = "slow_queries_total"

HTTP_DURATION_BUCKETS_MS: tuple[float, ...] = (10, 50, 100, 200, 500, 1000, 2000, 5000)
DB_DURATION_BUCKETS_MS: tuple[float, ...] = (5, 10, 25, 50, 100, 250, 500, 1000)

DEFAULT_VIEWS: tuple[View, ...] = (
    View(
        instrument_name=HTTP_REQUEST_DURATION,
        meter_name=METER_NAME,
        aggregation=ExplicitBucketHistogramAggregation(HTTP_DURATION_BUCKETS_MS),
    ),
    View(
        instrument_name=DB_QUERY_DURATION,
        meter_name=METER_NAME,
        aggregation=ExplicitBucketHistogramAggregation(DB_DURATION_BUCKETS_MS),
    ),
)
"""Views the distro's meter provider is built with; extend with ``[*DEFAULT_VIEWS, View(...)]``."""


@dataclass(frozen=True)
class Instruments:
    """The synchronous instruments, created once per meter provider."""

    request_duration: Histogram
    requests: Counter
    slow_requests: Counter
    query_duration: Histogram
    queries: Counter
    slow_queries: Counter

    @classmethod
    def create(cls, meter: Meter) -> Instruments:
        return cls(
            request_duration=meter.create_histogram(
                HTTP_REQUEST_DURATION,
                unit="ms",
                description="HTTP request duration, by method, route template and status code.",
                explicit_bucket_boundaries_advisory=list(HTTP_DURATION_BUCKETS_MS),
            ),
            requests=meter.create_counter(
                HTTP_REQUESTS, unit="1", description="HTTP requests served."
            ),
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
            queries=meter.create_counter(
                DB_QUERIES, unit="1", description="Database queries, by status (success, error)."
            ),
            slow_queries=meter.create_counter(
                SLOW_QUERIES,
                unit="1",
                description="Database queries slower than PERF_DB_QUERY_MS.",
            ),
        )
