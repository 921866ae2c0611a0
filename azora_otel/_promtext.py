"""A small reader of the Prometheus text exposition format, and histogram quantiles.

Only what the budget check needs: samples (name, labels, value) from a
``/metrics`` page, and :func:`histogram_quantile` with the same linear
interpolation as PromQL's ``histogram_quantile``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from azora_otel import _histogram

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_SAMPLE = re.compile(rf"^({_NAME})(?:\{{(.*)\}})?\s+(\S+)(?:\s+\S+)?\s*$")
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')
_UNESCAPE = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}


@dataclass(frozen=True)
class Sample:
    name: str
    labels: Mapping[str, str]
    value: float


def _labels(text: str, line: str) -> dict[str, str]:
    labels: dict[str, str] = {}
    pos = 0
    while pos < len(text):
        match = _LABEL.match(text, pos)
        if match is None:
            if text[pos:].strip():
                raise ValueError(f"cannot parse labels in line {line!r}")
            break
        labels[match.group(1)] = re.sub(
            r"\\[\\\"n]", lambda m: _UNESCAPE[m.group(0)], match.group(2)
        )
        pos = match.end()
    return labels


def parse_samples(text: str) -> Iterator[Sample]:
    """Samples of a text exposition (``# HELP``/``# TYPE`` and other comments skipped)."""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if match is None:
            raise ValueError(f"cannot parse exposition line {line!r}")
        name, labels, value = match.groups()
        yield Sample(name, _labels(labels or "", line), float(value))


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

    ``None`` when there are no observations or no ``+Inf`` bucket. Counts that go
    down from one bucket to the next are raised to the previous one, as Prometheus
    does.
    """
    ordered = sorted(buckets)
    if len(ordered) < 2 or not math.isinf(ordered[-1][0]):
        return None
    counts: list[float] = []
    cumulative = 0.0
    for _, count in ordered:
        counts.append(max(count - cumulative, 0.0))
        cumulative = max(count, cumulative)
    return _histogram.histogram_quantile(q, [le for le, _ in ordered[:-1]], counts)
