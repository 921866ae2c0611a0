"""The PromQL of the project, written once: the recording rules, the alerts, the
dashboard and ``azora-otel budget`` all build their queries here, from the metric
names of the runtime's contract (``azora_otel._instruments``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from azora_otel._instruments import DB_QUERY_DURATION, HTTP_REQUEST_DURATION, HTTP_REQUESTS
from azora_otel._ops.targets import Budget

API_HISTOGRAM = HTTP_REQUEST_DURATION
DB_HISTOGRAM = DB_QUERY_DURATION
ALERT_WINDOW = "5m"
"""Rate window of the recording rules the alerts and gauges read."""
ERROR_RATIO_RULE = "job:http_request_errors:ratio_rate"
"""Prefix of the per-job 5xx ratio recording rules (suffix: the window, e.g. ``5m``)."""
SERVER_ERROR = 'status_code=~"5.."'
"""Matcher of the requests that count as errors (5xx; unhandled exceptions are 500)."""

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def num(value: float) -> str:
    """A number as PromQL/JSON-friendly text: ``100.0`` → ``100``, ``0.001`` → ``0.001``."""
    return format(value, "g") if value != int(value) else str(int(value))


def duration_seconds(text: str) -> int:
    """Seconds of a simple Prometheus duration such as ``30m`` or ``3d`` (one unit)."""
    if len(text) < 2 or text[-1] not in _UNITS or not text[:-1].isdigit():
        raise ValueError(f"expected a duration like 5m, 1h or 3d, got {text!r}")
    return int(text[:-1]) * _UNITS[text[-1]]


def job_is(job: str) -> str:
    """The matcher selecting one service."""
    return f"job={json.dumps(job)}"


def selector(matchers: Sequence[str]) -> str:
    """``{a,b}`` of label matchers, or nothing when there are none."""
    return "{" + ",".join(matchers) + "}" if matchers else ""


def quantile_expr(q: float, histogram: str, window: str, matchers: Sequence[str] = ()) -> str:
    """The ``q`` quantile of ``histogram`` per service, over ``window``."""
    return (
        f"histogram_quantile({num(q)}, "
        f"sum by (job, le) (rate({histogram}_bucket{selector(matchers)}[{window}])))"
    )


def error_ratio_expr(window: str, matchers: Sequence[str] = ()) -> str:
    """Share of 5xx responses per service over ``window``; 0 for a service without any."""
    errors = f"sum by (job) (rate({HTTP_REQUESTS}{selector([SERVER_ERROR, *matchers])}[{window}]))"
    total = f"sum by (job) (rate({HTTP_REQUESTS}{selector(matchers)}[{window}]))"
    # ``or 0 * total`` gives 0 (not an absent series) for a job without 5xx.
    return f"(\n  {errors}\n  or\n  0 * {total}\n)\n/\n{total}"


def quantile_rule(histogram: str, row: Budget) -> str:
    """Name of the recording rule holding ``row``'s percentile of ``histogram`` per job."""
    return f"job:{histogram}:{row.metric}_rate{ALERT_WINDOW}"


def ratio_rule(window: str) -> str:
    """Name of the recording rule holding the 5xx ratio per job over ``window``."""
    return f"{ERROR_RATIO_RULE}{window}"
