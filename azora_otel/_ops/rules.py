"""The Prometheus rule file: recording rules, the seed's six alerts, the SLO burn-rate alerts.

A pure function of :class:`~azora_otel._ops.targets.Targets` and the runbook URL,
so ``azora-otel render --check`` can compare it with the committed file. YAML is
written by hand (no YAML library at run time); strings are emitted as JSON
strings, which YAML reads as double-quoted scalars.
"""

from __future__ import annotations

import json

from azora_otel._ops.promql import (
    ALERT_WINDOW,
    API_HISTOGRAM,
    DB_HISTOGRAM,
    duration_seconds,
    error_ratio_expr,
    num,
    quantile_expr,
    quantile_rule,
    ratio_rule,
)
from azora_otel._ops.targets import AlertSpec, BurnRateWindow, Targets

DEFAULT_RUNBOOK_URL = "README.md#troubleshooting"

_KIND_TEXT = {
    "api_p95": ("API P95 latency", "ms", "humanize"),
    "db_p95": ("Database query P95 time", "ms", "humanize"),
    "error_ratio": ("HTTP 5xx error rate", "", "humanizePercentage"),
}


def _q(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _expr_lines(expr: str, indent: str) -> list[str]:
    if "\n" not in expr:
        return [f"{indent}expr: {_q(expr)}"]
    return [f"{indent}expr: |-", *(f"{indent}  {line}" for line in expr.splitlines())]


def _record(name: str, expr: str) -> list[str]:
    return [f"      - record: {name}", *_expr_lines(expr, "        ")]


def _alert(
    name: str,
    expr: str,
    for_: str | None,
    labels: dict[str, str],
    annotations: dict[str, str],
) -> list[str]:
    lines = [f"      - alert: {name}", *_expr_lines(expr, "        ")]
    if for_ is not None:
        lines.append(f"        for: {for_}")
    lines.append("        labels:")
    lines += [f"          {k}: {_q(v)}" for k, v in labels.items()]
    lines.append("        annotations:")
    lines += [f"          {k}: {_q(v)}" for k, v in annotations.items()]
    return lines


def _threshold_text(spec: AlertSpec) -> str:
    if spec.kind == "error_ratio":
        return f"{num(spec.threshold * 100)}%"
    return f"{num(spec.threshold)} ms"


def _alert_expr(spec: AlertSpec, targets: Targets) -> str:
    if spec.kind == "api_p95":
        metric = quantile_rule(API_HISTOGRAM, targets.api_p95)
    elif spec.kind == "db_p95":
        metric = quantile_rule(DB_HISTOGRAM, targets.db_p95)
    else:
        metric = ratio_rule(ALERT_WINDOW)
    return f"{metric} > {num(spec.threshold)}"


def _recording_group(targets: Targets) -> list[str]:
    out = ["  - name: azora-otel.recording", "    rules:"]
    for histogram, rows in ((API_HISTOGRAM, targets.api_latency), (DB_HISTOGRAM, targets.db_query)):
        for row in rows:
            expr = quantile_expr(row.quantile, histogram, ALERT_WINDOW)
            out += _record(quantile_rule(histogram, row), expr)
    return out + _record(ratio_rule(ALERT_WINDOW), error_ratio_expr(ALERT_WINDOW))


def _threshold_alerts(targets: Targets, runbook_url: str) -> list[str]:
    out = ["  - name: azora-otel.alerts", "    rules:"]
    for spec in targets.alerts():
        what, unit, fmt = _KIND_TEXT[spec.kind]
        value = f"{{{{ $value | {fmt} }}}}{' ' + unit if unit else ''}"
        threshold = _threshold_text(spec)
        out += _alert(
            spec.name,
            _alert_expr(spec, targets),
            spec.for_,
            {"severity": spec.severity},
            {
                "summary": f"{what} above {threshold} on {{{{ $labels.job }}}}",
                "description": (
                    f"{what} of service {{{{ $labels.job }}}} is {value} "
                    f"(over the last {ALERT_WINDOW}), above the {spec.severity} threshold "
                    f"of {threshold} for more than {spec.for_}."
                ),
                "runbook_url": runbook_url,
            },
        )
    return out


def _burn_rate_alert(
    name: str,
    windows: list[BurnRateWindow],
    targets: Targets,
    *,
    labels: dict[str, str],
    runbook_url: str,
) -> list[str]:
    budget = targets.error_budget
    slo = num(round((1 - budget) * 100, 10))
    conditions = [
        f"(\n  {ratio_rule(bw.long)} > ({num(bw.factor)} * {num(budget)})\n  and\n"
        f"  {ratio_rule(bw.short)} > ({num(bw.factor)} * {num(budget)})\n)"
        for bw in windows
    ]
    described = "; ".join(f"{num(bw.factor)}x over {bw.long} and {bw.short}" for bw in windows)
    return _alert(
        name,
        "\nor\n".join(conditions),
        None,
        labels,
        {
            "summary": f"{{{{ $labels.job }}}} is burning its {slo}% availability "
            "error budget too fast",
            "description": (
                "The 5xx ratio of service {{ $labels.job }} is "
                "{{ $value | humanizePercentage }} over the long window, against an error "
                f"budget of {num(budget * 100)}% (burn-rate conditions: {described})."
            ),
            "runbook_url": runbook_url,
        },
    )


def _slo_group(targets: Targets, runbook_url: str) -> list[str]:
    windows = targets.burn_rate_windows
    out = ["  - name: azora-otel.slo", "    rules:"]
    all_windows = {w for bw in windows for w in (bw.long, bw.short)} - {ALERT_WINDOW}
    for window in sorted(all_windows, key=duration_seconds):
        out += _record(ratio_rule(window), error_ratio_expr(window))
    for action, name, severity in (
        ("page", "ErrorBudgetFastBurn", "critical"),
        ("ticket", "ErrorBudgetSlowBurn", "warning"),
    ):
        chosen = [bw for bw in windows if bw.action == action]
        labels = {"severity": severity, "action": action}
        out += _burn_rate_alert(name, chosen, targets, labels=labels, runbook_url=runbook_url)
    return out


def render_alert_rules(targets: Targets, runbook_url: str = DEFAULT_RUNBOOK_URL) -> str:
    """The Prometheus rule file: recording rules, the six alerts, the SLO burn-rate group."""
    out = [
        "# Generated by `azora-otel render` from azora_otel/_ops/targets.py. Do not edit by hand:",
        "# change the budgets and re-render (CI runs `azora-otel render --check`).",
        "groups:",
        *_recording_group(targets),
        *_threshold_alerts(targets, runbook_url),
        *_slo_group(targets, runbook_url),
    ]
    return "\n".join(out) + "\n"
