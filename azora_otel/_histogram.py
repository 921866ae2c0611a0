"""Bucketed histograms and the one quantile estimator of the project.

:class:`BucketCounts` keeps a process-wide histogram (all label sets together)
for ``get_performance_stats()``; :func:`histogram_quantile` estimates a quantile
from bucket counts exactly as PromQL's ``histogram_quantile`` does, so the stats
API, ``azora-otel budget --metrics-url`` and a Prometheus server give the same
number for the same observations.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence


def histogram_quantile(q: float, bounds: Sequence[float], counts: Sequence[float]) -> float | None:
    """The ``q`` quantile (0 to 1) of a histogram, as PromQL computes it.

    ``bounds`` are the finite upper bounds, ascending; ``counts`` the observations
    per bucket (not cumulative), one more than ``bounds``: the last is the ``+Inf``
    bucket. Linear interpolation inside the bucket that holds rank ``q * total``;
    the lowest bucket starts at 0 (or is its bound, when that is not positive);
    a rank in the ``+Inf`` bucket gives the highest finite bound. ``None`` when
    there are no observations or no finite bucket.
    """
    if not 0 <= q <= 1:
        raise ValueError(f"quantile must be in [0, 1], got {q}")
    if len(counts) != len(bounds) + 1:
        raise ValueError(f"expected {len(bounds) + 1} bucket counts, got {len(counts)}")
    total = sum(counts)
    if total <= 0 or not bounds:
        return None
    rank = q * total
    below = 0.0
    lower = 0.0
    for i, upper in enumerate(bounds):
        count = counts[i]
        if count > 0 and below + count >= rank:
            if i == 0 and upper <= 0:
                return upper
            return lower + (upper - lower) * (rank - below) / count
        below += count
        lower = upper
    return bounds[-1]


class BucketCounts:
    """A process-wide histogram (all label sets together) for the stats API."""

    __slots__ = ("bounds", "count", "counts", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.count = 0
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.count += 1
        self.total += value

    def quantile(self, q: float) -> float | None:
        """Estimated like Prometheus' ``histogram_quantile``; ``None`` before any observation."""
        return histogram_quantile(q, self.bounds, self.counts)
