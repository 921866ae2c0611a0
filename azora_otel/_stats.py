"""``get_performance_stats()``: the seed's statistics, plus percentiles and slow counts."""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # _telemetry builds the recorders that hold a BucketCounts
    from azora_otel._telemetry import Telemetry


class BucketCounts:
    """A process-wide histogram (all label sets together) for the stats API."""

    __slots__ = ("bounds", "count", "counts", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.count = 0
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.count += 1
        self.total += value

    def quantile(self, q: float) -> float | None:
        """Estimated like Prometheus' ``histogram_quantile`` (linear within a bucket)."""
        if self.count == 0:
            return None
        rank = q * self.count
        seen = 0
        lower = 0.0
        for i, n in enumerate(self.counts):
            if i == len(self.bounds):  # the +Inf bucket: the highest finite bound is the answer
                return self.bounds[-1]
            upper = self.bounds[i]
            if n and seen + n >= rank:
                return lower + (upper - lower) * (rank - seen) / n
            seen += n
            lower = upper
        return self.bounds[-1]


@dataclass(frozen=True)
class Thresholds:
    api_latency_ms: float
    db_query_ms: float
    error_rate: float


@dataclass(frozen=True)
class PerformanceStats:
    """A snapshot of this process since start. Percentiles are estimated from the
    contract's histogram buckets (linear within a bucket, like PromQL's
    ``histogram_quantile``) and are ``None`` before the first request."""

    total_requests: int
    error_requests: int
    error_rate: float
    """Errors / requests since the process started."""
    current_error_rate: float
    """The value of ``http_error_rate``: errors / requests over the recent window."""
    slow_requests: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    total_queries: int
    error_queries: int
    slow_queries: int
    db_p50_ms: float | None
    db_p95_ms: float | None
    db_p99_ms: float | None
    thresholds: Thresholds

    @property
    def error_rate_percent(self) -> str:
        """The lifetime error rate as the seed prints it, e.g. ``'0.05%'``."""
        return f"{self.error_rate * 100:.2f}%"


def performance_stats(telemetry: Telemetry) -> PerformanceStats:
    requests = telemetry.requests
    queries = telemetry.queries
    settings = telemetry.settings
    histogram = requests.histogram
    total = requests.total
    return PerformanceStats(
        total_requests=total,
        error_requests=requests.errors,
        error_rate=requests.errors / total if total else 0.0,
        current_error_rate=requests.error_window.rate(),
        slow_requests=requests.slow,
        p50_ms=histogram.quantile(0.50),
        p95_ms=histogram.quantile(0.95),
        p99_ms=histogram.quantile(0.99),
        total_queries=queries.total,
        error_queries=queries.errors,
        slow_queries=queries.slow,
        db_p50_ms=queries.histogram.quantile(0.50),
        db_p95_ms=queries.histogram.quantile(0.95),
        db_p99_ms=queries.histogram.quantile(0.99),
        thresholds=Thresholds(settings.api_latency_ms, settings.db_query_ms, settings.error_rate),
    )
