"""``azora-otel budget``: check the targets table against live data.

Readings come from a Prometheus server (``--prometheus URL``, over ``--window``,
per service or one ``--job``) or from one process's ``/metrics`` page
(``--metrics-url URL``, counts since the process started); see ``readings``.

Exit status: 0 all within budget, 1 a budget is broken (a verdict at or above
``--fail-on``: ``critical`` by default, or ``warning``; ``NO DATA`` breaks it only
with ``--require-data``), 2 usage, budgets-file or connection errors.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from azora_otel._ops.budgets_file import load_targets
from azora_otel._ops.promql import duration_seconds
from azora_otel._ops.readings import (
    NO_DATA,
    VERDICTS,
    BudgetCheckError,
    Reading,
    http_get,
    metrics_readings,
    prometheus_readings,
)


def _fmt(value: float | None, percent: bool) -> str:
    if value is None:
        return "-"
    return f"{value * 100:.4g}%" if percent else f"{value:.4g} ms"


def format_table(readings: Sequence[Reading]) -> str:
    header = ("job", "metric", "value", "target", "warning", "critical", "verdict")
    rows = [header]
    for r in readings:
        pct = r.group == "Error rate"
        name = r.group if pct else f"{r.group} {r.budget.metric.upper()}"
        b = r.budget
        rows.append(
            (
                r.job,
                name,
                _fmt(r.value, pct),
                "<" + _fmt(b.target, pct),
                ">" + _fmt(b.warning, pct),
                ">" + _fmt(b.critical, pct),
                r.verdict,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def broken(readings: Sequence[Reading], fail_on: str, require_data: bool) -> bool:
    """Whether any reading breaks the budget under the chosen policy."""
    level = VERDICTS.index("WARN" if fail_on == "warning" else "CRIT")
    for r in readings:
        if r.verdict == NO_DATA:
            if require_data:
                return True
        elif VERDICTS.index(r.verdict) >= level:
            return True
    return False


def run(args: argparse.Namespace) -> int:
    try:
        targets = load_targets(args.targets)
        if args.prometheus:
            readings = prometheus_readings(args.prometheus, targets, args.job, args.window)
        else:
            readings = metrics_readings(http_get(args.metrics_url), targets)
    except (OSError, ValueError, BudgetCheckError) as exc:
        print(f"azora-otel budget: {exc}", file=sys.stderr)
        return 2
    print(format_table(readings))
    if broken(readings, args.fail_on, args.require_data):
        print(f"azora-otel budget: budget broken (--fail-on {args.fail_on})", file=sys.stderr)
        return 1
    return 0


def _window(text: str) -> str:
    try:
        duration_seconds(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "budget",
        help="check the performance budgets against live data",
        description="Evaluate the targets table against a Prometheus server or a /metrics "
        "page. Exit 0: within budget; 1: a budget is broken; 2: usage or connection error.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--prometheus", metavar="URL", help="Prometheus base URL")
    source.add_argument("--metrics-url", metavar="URL", help="a service's /metrics URL")
    parser.add_argument("--job", help="only this service (Prometheus job label)")
    parser.add_argument(
        "--window", type=_window, default="5m", help="rate window for PromQL (default 5m)"
    )
    parser.add_argument(
        "--fail-on",
        choices=("warning", "critical"),
        default="critical",
        help="lowest verdict that breaks the budget (default: critical)",
    )
    parser.add_argument(
        "--require-data", action="store_true", help="treat NO DATA as a broken budget"
    )
    parser.add_argument("--targets", metavar="FILE", help="budgets file (.json or .toml)")
    parser.set_defaults(func=run)
