"""The Grafana dashboard ``azora-performance``, built from a table of panels.

:func:`panels` is the table: one :class:`Panel` per row (title, kind, unit,
queries, thresholds), every query built by ``promql`` from the contract's metric
names and every threshold taken from the targets table. :func:`build_dashboard`
lays the rows out left to right on Grafana's 24-column grid and writes the JSON
model (schema 39) that Grafana's file provisioning loads.

Why our own table and not ``grafana-foundation-sdk`` (Grafana's typed builders,
Apache-2.0, looked at in version ``1769699998!10.1.0``): it needs Python >= 3.11
(``typing.Self``) where the distro supports 3.10, and the tools ship inside the
distro's wheel, so it would be installed into every instrumented service (4.8 MB
of generated code for seven panels). Its versions are ``<upload timestamp>!<Grafana
version>``, one line per Grafana release, so the newest one pip picks is whichever
was uploaded last (the Grafana 10.1 line when we looked), and only an exact pin
says which Grafana it targets. It is marked alpha. And it would not replace the
table: we would still describe each panel and then translate the rows into builder
calls, and still set the query ``refId``s ourselves (it leaves them empty).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from azora_otel._instruments import HTTP_REQUESTS, SLOW_QUERIES, SLOW_REQUESTS
from azora_otel._ops.promql import (
    ALERT_WINDOW,
    API_HISTOGRAM,
    DB_HISTOGRAM,
    num,
    quantile_expr,
    quantile_rule,
    ratio_rule,
)
from azora_otel._ops.targets import Budget, Targets

DASHBOARD_UID = "azora-performance"
SERVICE = 'job=~"$service"'
"""Matcher of the ``$service`` variable, in every query."""
RATE = "$__rate_interval"
GRID_COLUMNS = 24
PANEL_HEIGHT = 8

_DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


@dataclass(frozen=True)
class Query:
    """One Prometheus query of a panel and the legend of its series."""

    expr: str
    legend: str
    exemplar: bool = False
    """Also ask Prometheus for the exemplars of the series the query selects (Grafana's
    ``exemplar`` target field): dots on the graph, each a measurement with its trace id."""


@dataclass(frozen=True)
class Panel:
    """One row of the dashboard table."""

    title: str
    kind: Literal["timeseries", "gauge"]
    unit: str
    queries: tuple[Query, ...]
    description: str
    width: int
    """Columns of the 24-column grid; panels fill rows left to right."""
    thresholds: tuple[float, float] | None = None
    """(warning, critical): yellow above the first, red above the second."""
    gauge_max: float | None = None
    """Upper end of a gauge's scale (gauges start at 0)."""


def _percentiles(histogram: str, rows: Sequence[Budget]) -> tuple[Query, ...]:
    # The recording rules' expressions, not their series: exemplars live on the raw
    # ``_bucket`` series only, and the same 5m window keeps the lines what the alerts see.
    return tuple(
        Query(
            quantile_expr(row.quantile, histogram, ALERT_WINDOW, [SERVICE]),
            f"{{{{job}}}} {row.metric.upper()}",
            exemplar=True,
        )
        for row in rows
    )


_EXEMPLARS = "Dots: exemplars, each one measurement with the trace id it belongs to."


def _rule(name: str) -> tuple[Query, ...]:
    return (Query(f"{name}{{{SERVICE}}}", "{{job}}"),)


def _rate(metric: str, by: str, legend: str) -> tuple[Query, ...]:
    return (Query(f"sum by ({by}) (rate({metric}{{{SERVICE}}}[{RATE}]))", legend),)


# The table reads best as a table: one panel per row, fields in the dataclass's order.
# fmt: off
def _budget_panels(targets: Targets) -> tuple[Panel, ...]:
    api, db, err = targets.api_p95, targets.db_p95, targets.error_rate
    return (
        Panel("API latency percentiles", "timeseries", "ms",
              _percentiles(API_HISTOGRAM, targets.api_latency),
              f"HTTP server latency per service over {ALERT_WINDOW}. Lines: P95 warning "
              f"{num(api.target)} ms, critical {num(api.critical)} ms. {_EXEMPLARS}",
              width=16, thresholds=(api.target, api.critical)),
        Panel("API latency P95", "gauge", "ms",
              _rule(quantile_rule(API_HISTOGRAM, api)),
              f"Current P95 per service: yellow above {num(api.target)} ms, red above "
              f"{num(api.critical)} ms.",
              width=8, thresholds=(api.target, api.critical), gauge_max=api.critical * 1.5),
        Panel("Database query time percentiles", "timeseries", "ms",
              _percentiles(DB_HISTOGRAM, targets.db_query),
              f"Query time per service over {ALERT_WINDOW}. Lines: P95 warning "
              f"{num(db.target)} ms, critical {num(db.critical)} ms. {_EXEMPLARS}",
              width=16, thresholds=(db.target, db.critical)),
        Panel("Error rate", "gauge", "percentunit",
              _rule(ratio_rule(ALERT_WINDOW)),
              f"Share of 5xx responses over {ALERT_WINDOW}: yellow above "
              f"{num(err.warning * 100)}%, red above {num(err.critical * 100)}%.",
              width=8, thresholds=(err.warning, err.critical), gauge_max=err.critical * 2),
    )


def _traffic_panels(targets: Targets) -> tuple[Panel, ...]:
    return (
        Panel("Request throughput by status code", "timeseries", "reqps",
              _rate(HTTP_REQUESTS, "status_code", "{{status_code}}"),
              "Requests per second, by HTTP status code.",
              width=12),
        Panel("Slow requests", "timeseries", "reqps",
              _rate(SLOW_REQUESTS, "job, method, route", "{{job}} {{method}} {{route}}"),
              "Requests per second slower than PERF_API_LATENCY_MS (default "
              f"{num(targets.api_latency_ms)} ms), by route.",
              width=12),
        Panel("Slow queries", "timeseries", "ops",
              _rate(SLOW_QUERIES, "job, operation, model", "{{job}} {{operation}} {{model}}"),
              "Queries per second slower than PERF_DB_QUERY_MS (default "
              f"{num(targets.db_query_ms)} ms), by operation and model.",
              width=24),
    )
# fmt: on


def panels(targets: Targets) -> tuple[Panel, ...]:
    """The dashboard table, one panel per row, in grid order."""
    return _budget_panels(targets) + _traffic_panels(targets)


def _field_defaults(panel: Panel) -> dict[str, Any]:
    defaults: dict[str, Any] = {"unit": panel.unit}
    if panel.kind == "gauge":
        defaults |= {"min": 0, "max": panel.gauge_max}
    elif panel.thresholds is not None:
        defaults["custom"] = {"thresholdsStyle": {"mode": "line"}}
    if panel.thresholds is not None:
        warning, critical = panel.thresholds
        steps = (("green", None), ("yellow", warning), ("red", critical))
        defaults["thresholds"] = {
            "mode": "absolute",
            "steps": [{"color": color, "value": value} for color, value in steps],
        }
    return defaults


def _options(panel: Panel) -> dict[str, Any]:
    if panel.kind == "gauge":
        return {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "showThresholdLabels": False,
            "showThresholdMarkers": True,
        }
    return {
        "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
        "tooltip": {"mode": "multi", "sort": "desc"},
    }


def _target(query: Query, index: int) -> dict[str, Any]:
    target: dict[str, Any] = {
        "datasource": _DATASOURCE,
        "expr": query.expr,
        "legendFormat": query.legend,
        "refId": chr(ord("A") + index),
    }
    if query.exemplar:
        target["exemplar"] = True
    return target


def panel_model(panel: Panel, panel_id: int, x: int, y: int) -> dict[str, Any]:
    """The Grafana JSON of one panel at grid position ``(x, y)``."""
    return {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": _DATASOURCE,
        "gridPos": {"x": x, "y": y, "w": panel.width, "h": PANEL_HEIGHT},
        "fieldConfig": {"defaults": _field_defaults(panel), "overrides": []},
        "options": _options(panel),
        "targets": [_target(query, i) for i, query in enumerate(panel.queries)],
    }


def _laid_out(table: Sequence[Panel]) -> list[dict[str, Any]]:
    models = []
    x = y = 0
    for panel_id, panel in enumerate(table, start=1):
        if x + panel.width > GRID_COLUMNS:
            x, y = 0, y + PANEL_HEIGHT
        models.append(panel_model(panel, panel_id, x, y))
        x += panel.width
    return models


def _variables() -> list[dict[str, Any]]:
    services = f"label_values({HTTP_REQUESTS}, job)"
    return [
        {
            "name": "datasource",
            "label": "Data source",
            "type": "datasource",
            "query": "prometheus",
            "current": {},
            "hide": 0,
            "refresh": 1,
        },
        {
            "name": "service",
            "label": "Service",
            "type": "query",
            "datasource": _DATASOURCE,
            "definition": services,
            "query": {"query": services, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
            "includeAll": True,
            "multi": True,
            "allValue": ".*",
            "current": {},
            "refresh": 2,
            "sort": 1,
            "hide": 0,
        },
    ]


def build_dashboard(targets: Targets) -> dict[str, Any]:
    """The Grafana dashboard model (uid ``azora-performance``)."""
    return {
        "uid": DASHBOARD_UID,
        "title": "Azora performance",
        "description": "API latency, database query time and error rate against the "
        "azora-otel performance budgets. Generated by `azora-otel render`.",
        "tags": ["azora-otel", "performance"],
        "editable": True,
        "graphTooltip": 1,
        "refresh": "30s",
        "schemaVersion": 39,
        "time": {"from": "now-1h", "to": "now"},
        "timezone": "browser",
        "templating": {"list": _variables()},
        "panels": _laid_out(panels(targets)),
    }


def render_dashboard(targets: Targets) -> str:
    """The dashboard file's text."""
    return json.dumps(build_dashboard(targets), indent=2) + "\n"
