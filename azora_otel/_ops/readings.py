"""Live readings of the targets table's metrics, for ``azora-otel budget``.

Two sources:

* a Prometheus server: PromQL over a window, per service (``job``), optionally
  one job. The expressions of the recording rules (``promql``), with the window
  and the job put in;
* one process's ``/metrics`` page, read with ``prometheus_client``'s parser.
  Quantiles come from its histogram buckets (cumulative since the process
  started) through the runtime's estimator (``azora_otel._histogram``, the one
  behind ``get_performance_stats()``), the error ratio from
  ``http_requests_total``. Names with the OpenTelemetry unit suffix
  (``http_request_duration_ms_milliseconds_*``) are accepted too.
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from azora_otel import _histogram
from azora_otel._instruments import HTTP_REQUESTS
from azora_otel._ops.promql import (
    API_HISTOGRAM,
    DB_HISTOGRAM,
    error_ratio_expr,
    job_is,
    quantile_expr,
)
from azora_otel._ops.targets import Budget, Targets

OTEL_UNIT_SUFFIX = "_milliseconds"
"""What OpenTelemetry's Prometheus naming appends to a histogram with unit ``ms``."""
VERDICTS = ("OK", "WARN", "CRIT")
NO_DATA = "NO DATA"
TIMEOUT_S = 10.0


class BudgetCheckError(Exception):
    """A problem that is not a broken budget: bad URL, unreachable server, bad answer."""


@dataclass(frozen=True)
class Reading:
    job: str
    group: str
    budget: Budget
    value: float | None

    @property
    def verdict(self) -> str:
        return verdict(self.value, self.budget)


def verdict(value: float | None, budget: Budget) -> str:
    """``CRIT`` above critical, ``WARN`` above warning, ``OK`` otherwise, ``NO DATA`` if unknown."""
    if value is None or math.isnan(value):
        return NO_DATA
    if value > budget.critical:
        return "CRIT"
    if value > budget.warning:
        return "WARN"
    return "OK"


def http_get(url: str) -> str:
    """The body of ``url`` (http or https only)."""
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise BudgetCheckError(f"expected an http(s) URL, got {url!r}")
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:  # noqa: S310 (scheme checked)
            body: bytes = response.read()
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")[:300]
        raise BudgetCheckError(f"GET {url}: HTTP {exc.code} {detail}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise BudgetCheckError(f"GET {url}: {exc}") from exc
    return body.decode("utf-8", "replace")


# ------------------------------------------------------------------ Prometheus


def _promql(base_url: str, expr: str, get: Callable[[str], str]) -> dict[str, float]:
    url = f"{base_url.rstrip('/')}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
    try:
        answer = json.loads(get(url))
    except json.JSONDecodeError as exc:
        raise BudgetCheckError(f"{base_url} did not answer with Prometheus JSON: {exc}") from exc
    if answer.get("status") != "success" or answer["data"]["resultType"] != "vector":
        raise BudgetCheckError(f"query {expr!r} failed: {answer.get('error', answer)}")
    result: dict[str, float] = {}
    for item in answer["data"]["result"]:
        value = float(item["value"][1])
        if not math.isnan(value):
            result[item["metric"].get("job", "")] = value
    return result


def prometheus_readings(
    base_url: str,
    targets: Targets,
    job: str | None = None,
    window: str = "5m",
    get: Callable[[str], str] = http_get,
) -> list[Reading]:
    """Readings per job from a Prometheus server."""
    matchers = [job_is(job)] if job else []
    values: list[tuple[str, Budget, dict[str, float]]] = []
    for group, histogram, rows in _histograms(targets):
        for row in rows:
            expr = quantile_expr(row.quantile, histogram, window, matchers)
            values.append((group, row, _promql(base_url, expr, get)))
    ratio = error_ratio_expr(window, matchers)
    values.append(("Error rate", targets.error_rate, _promql(base_url, ratio, get)))
    jobs = sorted({j for *_, by_job in values for j in by_job} | ({job} if job else set()))
    return [
        Reading(j, group, row, by_job.get(j))
        for j in jobs or ["*"]
        for group, row, by_job in values
    ]


def _histograms(targets: Targets) -> tuple[tuple[str, str, tuple[Budget, ...]], ...]:
    return (
        ("API latency", API_HISTOGRAM, targets.api_latency),
        ("DB query", DB_HISTOGRAM, targets.db_query),
    )


# -------------------------------------------------------------------- /metrics


def parse_samples(text: str) -> list[Sample]:
    """Every sample of a Prometheus text exposition."""
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def bucket_counts(samples: Iterable[Sample], histogram: str) -> list[tuple[float, float]]:
    """``(le, cumulative count)`` of ``histogram``, summed over all other labels, sorted by le."""
    by_le: dict[float, float] = {}
    for sample in samples:
        if sample.name == f"{histogram}_bucket" and "le" in sample.labels:
            le = float(sample.labels["le"])
            by_le[le] = by_le.get(le, 0.0) + sample.value
    return sorted(by_le.items())


def histogram_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float | None:
    """The ``q`` quantile of cumulative ``(le, count)`` buckets, as PromQL computes it.

    ``None`` without observations or without a ``+Inf`` bucket. A count lower than
    the bucket below it is raised to it, as Prometheus does.
    """
    ordered = sorted(buckets)
    if len(ordered) < 2 or not math.isinf(ordered[-1][0]):
        return None
    per_bucket: list[float] = []
    cumulative = 0.0
    for _, count in ordered:
        per_bucket.append(max(count - cumulative, 0.0))
        cumulative = max(count, cumulative)
    return _histogram.histogram_quantile(q, [le for le, _ in ordered[:-1]], per_bucket)


def metrics_readings(text: str, targets: Targets, job: str = "(metrics-url)") -> list[Reading]:
    """Readings from one text exposition (counts since the process started)."""
    samples = parse_samples(text)
    readings: list[Reading] = []
    for group, histogram, rows in _histograms(targets):
        buckets = bucket_counts(samples, histogram) or bucket_counts(
            samples, histogram + OTEL_UNIT_SUFFIX
        )
        readings += [
            Reading(job, group, row, histogram_quantile(row.quantile, buckets)) for row in rows
        ]
    total = errors = 0.0
    for sample in samples:
        if sample.name == HTTP_REQUESTS:
            total += sample.value
            if sample.labels.get("status_code", "").startswith("5"):
                errors += sample.value
    readings.append(
        Reading(job, "Error rate", targets.error_rate, errors / total if total else None)
    )
    return readings
