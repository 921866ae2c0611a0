"""Performance budgets: the one place every threshold of the project comes from.

The ``PERF_*`` defaults, the performance-targets table (target / warning /
critical for P50, P95, P99 of API latency and database query time, and for the
error rate) and everything rendered from them (alert rules, dashboard
thresholds, the budget check) read these values.

How the alert thresholds follow from the table (as in the seed document):

* the *warning* alerts fire at the ``PERF_*`` defaults, which are the P95
  *target* for latencies (100 ms API, 50 ms DB) and the *warning* column of the
  error-rate row (0.1 %);
* the *critical* alerts fire at the *critical* column (P95 200 ms API, 100 ms
  DB, error rate 1 %);
* the SLO burn-rate alerts use the error-rate *target* as the error budget
  (target 0.01 % → SLO 99.99 %).

Other budgets can be loaded from a JSON or TOML file with :func:`load_targets`
(format documented there and in ``docs/alerts-and-dashboards.md``).
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal


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
    Budget("p95", target=100.0, warning=150.0, critical=200.0),
    Budget("p99", target=200.0, warning=300.0, critical=500.0),
)
"""HTTP server latency percentiles, milliseconds."""

DB_QUERY_TARGETS: tuple[Budget, ...] = (
    Budget("p50", target=10.0, warning=25.0, critical=50.0),
    Budget("p95", target=50.0, warning=75.0, critical=100.0),
    Budget("p99", target=100.0, warning=150.0, critical=250.0),
)
"""Database query time percentiles, milliseconds."""

ERROR_RATE_TARGET = Budget("error_rate", target=0.0001, warning=0.001, critical=0.01)
"""Share of HTTP responses that are 5xx (0..1)."""


def _row(rows: tuple[Budget, ...], metric: str) -> Budget:
    for row in rows:
        if row.metric == metric:
            return row
    raise KeyError(f"no {metric!r} row in {[r.metric for r in rows]}")


DEFAULT_API_LATENCY_MS: float = _row(API_LATENCY_TARGETS, "p95").target
"""Default of ``PERF_API_LATENCY_MS`` (the API P95 target): a request slower than this is slow."""

DEFAULT_DB_QUERY_MS: float = _row(DB_QUERY_TARGETS, "p95").target
"""Default of ``PERF_DB_QUERY_MS`` (the DB P95 target): a query slower than this is slow."""

DEFAULT_ERROR_RATE: float = ERROR_RATE_TARGET.warning
"""Default of ``PERF_ERROR_RATE`` (error-rate warning): above this ratio a service is in breach."""


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
    def api_latency_ms(self) -> float:
        """Slow-request threshold and HighAPILatency threshold: the API P95 target."""
        return _row(self.api_latency, "p95").target

    @property
    def db_query_ms(self) -> float:
        """Slow-query threshold and SlowDatabaseQueries threshold: the DB P95 target."""
        return _row(self.db_query, "p95").target

    @property
    def error_budget(self) -> float:
        """Error budget of the SLO (SLO = 1 - budget): the error-rate target."""
        return self.error_rate.target

    def alerts(self) -> tuple[AlertSpec, ...]:
        """The six threshold alerts of the seed, thresholds derived from the table."""
        api_p95 = _row(self.api_latency, "p95")
        db_p95 = _row(self.db_query, "p95")
        return (
            AlertSpec("HighAPILatency", "api_p95", self.api_latency_ms, "5m", "warning"),
            AlertSpec("CriticalAPILatency", "api_p95", api_p95.critical, "2m", "critical"),
            AlertSpec("SlowDatabaseQueries", "db_p95", self.db_query_ms, "5m", "warning"),
            AlertSpec("CriticalDatabaseQueries", "db_p95", db_p95.critical, "2m", "critical"),
            AlertSpec("HighErrorRate", "error_ratio", self.error_rate.warning, "5m", "warning"),
            AlertSpec(
                "CriticalErrorRate", "error_ratio", self.error_rate.critical, "2m", "critical"
            ),
        )


DEFAULT_TARGETS = Targets()


class BudgetsFileError(ValueError):
    """A budgets file that cannot be used; the message names the section and the bad value."""


if sys.version_info >= (3, 11):
    import tomllib
else:  # the same parser, from PyPI (a dependency on Python 3.10)
    import tomli as tomllib


def _loads_toml(text: str) -> object:
    return tomllib.loads(text)


def _budget_rows(data: object, where: str) -> tuple[Budget, ...]:
    if not isinstance(data, Mapping):
        raise BudgetsFileError(f"{where}: expected a table of pNN rows, got {data!r}")
    rows = tuple(_budget(str(name), value, f"{where}.{name}") for name, value in data.items())
    if not any(row.metric == "p95" for row in rows):
        raise BudgetsFileError(f"{where}: a p95 row is required (the alerts use it)")
    for row in rows:
        _ = row.quantile  # validates the pNN name
    return tuple(sorted(rows, key=lambda r: r.quantile))


def _budget(metric: str, data: object, where: str) -> Budget:
    if not isinstance(data, Mapping) or set(data) != {"target", "warning", "critical"}:
        raise BudgetsFileError(f"{where}: expected keys target, warning, critical, got {data!r}")
    values: dict[str, float] = {}
    for key in ("target", "warning", "critical"):
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise BudgetsFileError(f"{where}.{key}: expected a number, got {value!r}")
        values[key] = float(value)
    return Budget(metric, **values)


def targets_from_mapping(data: Mapping[str, object]) -> Targets:
    """Build :class:`Targets` from a mapping; missing sections keep the defaults.

    Sections: ``api_latency_ms`` and ``db_query_ms`` (tables of ``p50``/``p95``/``p99``
    rows, each with ``target``, ``warning``, ``critical``) and ``error_rate`` (one row).
    """
    unknown = set(data) - {"api_latency_ms", "db_query_ms", "error_rate"}
    if unknown:
        raise BudgetsFileError(
            f"unknown budget sections {sorted(unknown)}; "
            "expected api_latency_ms, db_query_ms, error_rate"
        )
    targets = DEFAULT_TARGETS
    if "api_latency_ms" in data:
        api = _budget_rows(data["api_latency_ms"], "api_latency_ms")
        targets = Targets(api, targets.db_query, targets.error_rate)
    if "db_query_ms" in data:
        db = _budget_rows(data["db_query_ms"], "db_query_ms")
        targets = Targets(targets.api_latency, db, targets.error_rate)
    if "error_rate" in data:
        err = _budget("error_rate", data["error_rate"], "error_rate")
        targets = Targets(targets.api_latency, targets.db_query, err)
    return targets


def load_targets(path: str | Path | None) -> Targets:
    """Read a budgets file (``.json`` or ``.toml``); ``None`` gives the defaults."""
    if path is None:
        return DEFAULT_TARGETS
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".toml":
        data: object = _loads_toml(text)
    else:
        data = json.loads(text)
    if not isinstance(data, Mapping):
        raise BudgetsFileError(f"{path}: expected a table at the top level")
    return targets_from_mapping(data)
