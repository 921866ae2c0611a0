"""Performance budgets: the table every rendered threshold comes from.

The performance-targets table (target / warning / critical for P50, P95, P99 of
API latency and database query time, and for the error rate); the alert rules,
the dashboard thresholds and the budget check read it. Its P95 targets and its
error-rate warning are the runtime's ``PERF_*`` defaults, imported from
``azora_otel._variables`` (the runtime never imports the tools).

How the alert thresholds follow from the table (as in the seed document):

* the *warning* alerts fire at the ``PERF_*`` defaults, which are the P95
  *target* for latencies (100 ms API, 50 ms DB) and the *warning* column of the
  error-rate row (0.1 %);
* the *critical* alerts fire at the *critical* column (P95 200 ms API, 100 ms
  DB, error rate 1 %);
* the SLO burn-rate alerts use the error-rate *target* as the error budget
  (target 0.01 % → SLO 99.99 %).

Other budgets can be loaded from a JSON or TOML file
(:func:`azora_otel._ops.budgets_file.load_targets`, format in
``docs/alerts-and-dashboards.md``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from azora_otel._variables import PERF_API_LATENCY_MS, PERF_DB_QUERY_MS, PERF_ERROR_RATE


@dataclass(frozen=True)
class Budget:
    """One row of the targets table. ``target`` is met below it; ``warning`` and
    ``critical`` are breached above them. Latencies in milliseconds, rates as ratios."""

    metric: str
    target: float
    warning: float
    critical: float

    def __post_init__(self) -> None:
        values = (self.target, self.warning, self.critical)
        if not all(math.isfinite(v) and v >= 0 for v in values):
            raise ValueError(
                f"Budget {self.metric!r}: values must be finite and >= 0, got {values}"
            )
        if not self.target <= self.warning <= self.critical:
            raise ValueError(
                f"Budget {self.metric!r}: expected target <= warning <= critical, got {values}"
            )

    @property
    def quantile(self) -> float:
        """The quantile of a ``pNN`` row (``p95`` → 0.95)."""
        if not self.metric.startswith("p") or not self.metric[1:].isdigit():
            raise ValueError(f"Budget {self.metric!r} is not a percentile row")
        return float(f"0.{self.metric[1:]}")


API_LATENCY_TARGETS: tuple[Budget, ...] = (
    Budget("p50", target=50.0, warning=75.0, critical=150.0),
    Budget("p95", target=PERF_API_LATENCY_MS.default, warning=150.0, critical=200.0),
    Budget("p99", target=200.0, warning=300.0, critical=500.0),
)
"""HTTP server latency percentiles, milliseconds."""

DB_QUERY_TARGETS: tuple[Budget, ...] = (
    Budget("p50", target=10.0, warning=25.0, critical=50.0),
    Budget("p95", target=PERF_DB_QUERY_MS.default, warning=75.0, critical=100.0),
    Budget("p99", target=100.0, warning=150.0, critical=250.0),
)
"""Database query time percentiles, milliseconds."""

ERROR_RATE_TARGET = Budget(
    "error_rate", target=0.0001, warning=PERF_ERROR_RATE.default, critical=0.01
)
"""Share of HTTP responses that are 5xx (0..1)."""


def row(rows: tuple[Budget, ...], metric: str) -> Budget:
    """The ``metric`` row (``p95``, ...) of a table."""
    for candidate in rows:
        if candidate.metric == metric:
            return candidate
    raise KeyError(f"no {metric!r} row in {[r.metric for r in rows]}")


Severity = Literal["warning", "critical"]
AlertKind = Literal["api_p95", "db_p95", "error_ratio"]


@dataclass(frozen=True)
class AlertSpec:
    """One threshold alert: ``expr`` of ``kind`` above ``threshold`` for ``for_``."""

    name: str
    kind: AlertKind
    threshold: float
    for_: str
    severity: Severity


@dataclass(frozen=True)
class BurnRateWindow:
    """One multi-window burn-rate condition (Google SRE workbook, chapter 5)."""

    long: str
    short: str
    factor: float
    action: Literal["page", "ticket"]


BURN_RATE_WINDOWS: tuple[BurnRateWindow, ...] = (
    BurnRateWindow("1h", "5m", 14.4, "page"),
    BurnRateWindow("6h", "30m", 6.0, "page"),
    BurnRateWindow("1d", "2h", 3.0, "ticket"),
    BurnRateWindow("3d", "6h", 1.0, "ticket"),
)
"""2 % of a 30-day budget in 1 h, 5 % in 6 h (page); 10 % in 1 d, 10 % in 3 d (ticket)."""


@dataclass(frozen=True)
class Targets:
    """The whole budget set: the targets table plus the alert thresholds derived from it."""

    api_latency: tuple[Budget, ...] = API_LATENCY_TARGETS
    db_query: tuple[Budget, ...] = DB_QUERY_TARGETS
    error_rate: Budget = ERROR_RATE_TARGET
    burn_rate_windows: tuple[BurnRateWindow, ...] = field(default=BURN_RATE_WINDOWS)

    @property
    def api_p95(self) -> Budget:
        """The API P95 row: the latency alerts and gauges use it."""
        return row(self.api_latency, "p95")

    @property
    def db_p95(self) -> Budget:
        """The database P95 row."""
        return row(self.db_query, "p95")

    @property
    def api_latency_ms(self) -> float:
        """Slow-request threshold and HighAPILatency threshold: the API P95 target."""
        return self.api_p95.target

    @property
    def db_query_ms(self) -> float:
        """Slow-query threshold and SlowDatabaseQueries threshold: the DB P95 target."""
        return self.db_p95.target

    @property
    def error_budget(self) -> float:
        """Error budget of the SLO (SLO = 1 - budget): the error-rate target."""
        return self.error_rate.target

    def alerts(self) -> tuple[AlertSpec, ...]:
        """The six threshold alerts of the seed, thresholds derived from the table."""
        api_p95, db_p95 = self.api_p95, self.db_p95
        return (
            AlertSpec("HighAPILatency", "api_p95", api_p95.target, "5m", "warning"),
            AlertSpec("CriticalAPILatency", "api_p95", api_p95.critical, "2m", "critical"),
            AlertSpec("SlowDatabaseQueries", "db_p95", db_p95.target, "5m", "warning"),
            AlertSpec("CriticalDatabaseQueries", "db_p95", db_p95.critical, "2m", "critical"),
            AlertSpec("HighErrorRate", "error_ratio", self.error_rate.warning, "5m", "warning"),
            AlertSpec(
                "CriticalErrorRate", "error_ratio", self.error_rate.critical, "2m", "critical"
            ),
        )


DEFAULT_TARGETS = Targets()
