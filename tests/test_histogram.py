"""The one quantile estimator (``_histogram``), used by the stats API and the budget check."""

from __future__ import annotations

import pytest

from azora_otel._histogram import BucketCounts, histogram_quantile

BOUNDS = (10.0, 50.0, 100.0, 200.0)


@pytest.mark.parametrize(
    ("q", "counts", "expected"),
    [
        # all 100 observations in (50, 100]: linear inside the bucket
        (0.5, [0, 0, 100, 0, 0], 75.0),
        (0.95, [0, 0, 100, 0, 0], 97.5),
        # rank 95 of 100: 90 at or below 100, 10 in (100, 200] -> 100 + 100 * 5 / 10
        (0.95, [0, 0, 90, 10, 0], 150.0),
        # the lowest bucket starts at 0
        (0.5, [100, 0, 0, 0, 0], 5.0),
        # a rank in the +Inf bucket gives the highest finite bound
        (0.99, [0, 0, 0, 90, 10], 200.0),
        # empty buckets below the rank are skipped, not interpolated over
        (0.5, [2, 0, 2, 0, 0], 10.0),
        (1.0, [1, 0, 0, 0, 0], 10.0),
    ],
)
def test_interpolates_like_promql(q, counts, expected):
    assert histogram_quantile(q, BOUNDS, counts) == pytest.approx(expected)


def test_no_observations_is_none():
    assert histogram_quantile(0.5, BOUNDS, [0] * 5) is None
    assert histogram_quantile(0.5, (), [3]) is None
    assert BucketCounts(BOUNDS).quantile(0.5) is None


def test_non_positive_lowest_bound_is_the_answer():
    # PromQL: a rank in the lowest bucket whose bound is <= 0 gives that bound
    assert histogram_quantile(0.5, (0.0, 10.0), [4, 0, 0]) == 0.0


@pytest.mark.parametrize("q", [-0.1, 1.5])
def test_quantile_outside_0_1_is_refused(q):
    with pytest.raises(ValueError, match="quantile"):
        histogram_quantile(q, BOUNDS, [1, 0, 0, 0, 0])


def test_counts_must_match_the_bounds():
    with pytest.raises(ValueError, match="bucket counts"):
        histogram_quantile(0.5, BOUNDS, [1, 2])


def test_bucket_counts_observes_le_buckets():
    buckets = BucketCounts(BOUNDS)
    for value in (10.0, 10.5, 50.0, 250.0):  # a value equal to a bound is in that bucket
        buckets.observe(value)
    assert buckets.counts == [1, 2, 0, 0, 1]
    assert (buckets.count, buckets.total) == (4, 320.5)
    # rank 2 of 4: one at or below 10, the second of two in (10, 50] -> 10 + 40 * 1 / 2
    assert buckets.quantile(0.5) == pytest.approx(30.0)
    assert buckets.quantile(0.99) == 200.0
