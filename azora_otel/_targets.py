"""Performance budgets: the one place every threshold of the project comes from.

The ``PERF_*`` defaults, the performance-targets table (target / warning /
critical for P50, P95, P99 of API latency and database query time, and for the
error rate) and everything rendered from them (alert rules, dashboard
thresholds, the budget check) read these values.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_API_LATENCY_MS = 100.0
"""Default of ``PERF_API_LATENCY_MS``: a request slower than this is a slow request."""

DEFAULT_DB_QUERY_MS = 50.0
"""Default of ``PERF_DB_QUERY_MS``: a query slower than this is a slow query."""

DEFAULT_ERROR_RATE = 0.001
"""Default of ``PERF_ERROR_RATE``: the error rate (0..1) above which the service is in breach."""


@dataclass(frozen=True)
class Budget:
    """One row of the targets table. ``target`` is met below it; ``warning`` and
    ``critical`` are breached above them. Latencies in milliseconds, rates as ratios."""

    metric: str
    target: float
    warning: float
    critical: float


API_LATENCY_TARGETS: tuple[Budget, ...] = (
    Budget("p50", target=50, warning=75, critical=150),
    Budget("p95", target=100, warning=150, critical=200),
    Budget("p99", target=200, warning=300, critical=500),
)
DB_QUERY_TARGETS: tuple[Budget, ...] = (
    Budget("p50", target=10, warning=25, critical=50),
    Budget("p95", target=50, warning=75, critical=100),
    Budget("p99", target=100, warning=150, critical=250),
)
ERROR_RATE_TARGET = Budget("error_rate", target=0.0001, warning=0.001, critical=0.01)
