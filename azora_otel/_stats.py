"""``get_performance_stats()``: the seed's statistics, plus percentiles and slow counts."""

from __future__ import annotations

from dataclasses import dataclass

from azora_otel._telemetry import Telemetry


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
