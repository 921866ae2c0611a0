"""The duration histograms' recording path (``AZORA_METRICS_RECORDER``) against the SDK's.

The distro's path (``azora_otel._record``, ``azora_otel._exemplars``) must export
exactly what ``Histogram.record`` with the SDK's ``trace_based`` filter and aligned
reservoir exports: the same series, counts, sums, buckets, min/max and exemplars,
for every reader, view and temporality. Each test runs the same measurements
through a distro built with the default and one built with
``AZORA_METRICS_RECORDER=upstream``, and compares what the readers collect.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.metrics import Histogram as HistogramKind
from opentelemetry.sdk.metrics import MeterProvider, TraceBasedExemplarFilter
from opentelemetry.sdk.metrics._internal.exemplar import AlignedHistogramBucketExemplarReservoir
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from opentelemetry.trace.propagation import _SPAN_KEY

from azora_otel import DEFAULT_VIEWS, Settings, Telemetry
from azora_otel._exemplars import LastPerBucketReservoir, TraceBasedFilter
from azora_otel._instruments import DB_DURATION_BUCKETS_MS, HTTP_DURATION_BUCKETS_MS
from azora_otel._record import MAX_CACHED_LABEL_SETS, HistogramRecorder, histogram_recorder
from azora_otel.testing import capture

UPSTREAM = {"AZORA_METRICS_RECORDER": "upstream"}
DURATIONS = (0.0, 0.4, 5.0, 5.000001, 9.99, 10.0, 50.0, 99.5, 100.0, 250.0, 1000.0, 4999.0, 7e4)


def _span(trace_id: int, sampled: bool = True) -> NonRecordingSpan:
    flags = TraceFlags(TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT)
    return NonRecordingSpan(SpanContext(trace_id, trace_id + 1, False, flags))


@contextmanager
def _inside(span: Any) -> Iterator[None]:
    token = otel_context.attach(trace.set_span_in_context(span))
    try:
        yield
    finally:
        otel_context.detach(token)


def _histograms(reader: InMemoryMetricReader) -> dict[str, list[tuple[Any, ...]]]:
    """Every histogram point the reader collects, with the timestamps left out."""
    found: dict[str, list[tuple[Any, ...]]] = {}
    data = reader.get_metrics_data()
    for rm in data.resource_metrics if data else ():
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if not metric.name.endswith("_ms"):
                    continue
                points = []
                for p in metric.data.data_points:
                    exemplars = tuple(
                        (e.filtered_attributes, e.value, e.span_id, e.trace_id) for e in p.exemplars
                    )
                    points.append(
                        (
                            tuple(sorted(p.attributes.items())),
                            p.count,
                            p.sum,
                            tuple(p.bucket_counts),
                            tuple(p.explicit_bounds),
                            p.min,
                            p.max,
                            exemplars,
                        )
                    )
                found.setdefault(metric.name, []).extend(sorted(points))
    return found


def _traffic(telemetry: Telemetry) -> None:
    """Requests and queries with every kind of context an exemplar can see."""
    contexts = [None, _span(0xA1), _span(0xB2, sampled=False), _span(0xC3)]
    for round_ in range(3):
        for i, duration in enumerate(DURATIONS):
            span = contexts[(i + round_) % len(contexts)]
            with _inside(span) if span is not None else _nothing():
                telemetry.requests.record("GET", "/items/{item_id}", 200, duration)
                telemetry.requests.record("POST", "/orders", 500 + i % 3, duration * 2)
                telemetry.queries.record("select", "users", duration, "success")
                telemetry.queries.record("insert", "orders", duration / 3, "error")


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def test_the_default_recorder_is_the_fast_one() -> None:
    """Otherwise every equality below would compare the SDK with itself."""
    with capture() as cap:
        record = cap.telemetry.requests._duration
        assert isinstance(getattr(record, "__self__", None), HistogramRecorder)
    with capture(UPSTREAM) as cap:
        assert not isinstance(
            getattr(cap.telemetry.requests._duration, "__self__", None), HistogramRecorder
        )


@pytest.mark.parametrize("tracing", [True, False])
def test_same_points_and_exemplars_as_the_sdk(tracing: bool) -> None:
    with capture(tracing=tracing) as fast, capture(UPSTREAM, tracing=tracing) as upstream:
        _traffic(fast.telemetry)
        _traffic(upstream.telemetry)
        ours, theirs = _histograms(fast.reader), _histograms(upstream.reader)
    assert set(ours) == {"http_request_duration_ms", "db_query_duration_ms"}
    assert ours == theirs
    with_exemplars = [p for points in ours.values() for p in points if p[-1]]
    assert bool(with_exemplars) is tracing
    # Every exemplar is one of the sampled spans, never the unsampled one.
    trace_ids = {e[3] for p in with_exemplars for e in p[-1]}
    assert trace_ids <= {0xA1, 0xC3}


def test_same_exposition_as_the_sdk() -> None:
    """What a scrape shows, exemplars included (OpenMetrics)."""
    with capture() as fast, capture(UPSTREAM) as upstream:
        for cap in (fast, upstream):
            _traffic(cap.telemetry)
        rendered = [
            cap.telemetry.prometheus.render(accept="application/openmetrics-text")[0]
            for cap in (fast, upstream)
            if cap.telemetry.prometheus is not None
        ]
    # The same text once the exemplars' timestamps (when each was measured) are left out.
    ours, theirs = (re.sub(rb"( # \{[^}]*\} \S+) \S+", rb"\1", text) for text in rendered)
    assert ours == theirs
    assert ours.count(b"trace_id=") == rendered[0].count(b"trace_id=") > 0


def _build(environ: dict[str, str], reader: InMemoryMetricReader, views: Any) -> Telemetry:
    return Telemetry.build(
        Settings.from_env(environ),
        readers=[reader],
        tracer_provider=TracerProvider(),
        views=views,
    )


def test_delta_temporality_and_collections_in_between() -> None:
    """Delta streams are rebuilt by the SDK at each collection: recorded by the SDK."""
    results = []
    for environ in ({}, UPSTREAM):
        reader = InMemoryMetricReader(
            preferred_temporality={HistogramKind: AggregationTemporality.DELTA}
        )
        telemetry = _build(environ, reader, DEFAULT_VIEWS)
        cycles = []
        for _ in range(3):
            _traffic(telemetry)
            cycles.append(_histograms(reader))
        telemetry.shutdown()
        results.append(cycles)
    assert results[0] == results[1]


def test_views_users_add_keep_their_meaning() -> None:
    """A view that keeps some attribute keys, one with other buckets, one extending
    DEFAULT_VIEWS: the SDK applies them on both paths."""
    views = [
        View(
            instrument_name="http_request_duration_ms",
            attribute_keys={"route"},
            aggregation=ExplicitBucketHistogramAggregation((1.0, 20.0, 300.0)),
        ),
        DEFAULT_VIEWS[1],
        View(instrument_name="db_query_duration_ms", name="db_query_duration_copy_ms"),
    ]
    results = []
    for environ in ({}, UPSTREAM):
        reader = InMemoryMetricReader()
        telemetry = _build(environ, reader, views)
        _traffic(telemetry)
        results.append(_histograms(reader))
        telemetry.shutdown()
    assert results[0] == results[1]
    assert {"db_query_duration_copy_ms", "http_request_duration_ms"} <= set(results[0])
    assert [p[0] for p in results[0]["http_request_duration_ms"]] == [
        (("route", "/items/{item_id}"),),
        (("route", "/orders"),),
    ]


def test_invalid_values_are_dropped_and_logged_as_the_sdk_does(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    results = []
    for environ in ({}, UPSTREAM):
        caplog.clear()
        with capture(environ) as cap:
            for value in (-1.0, math.nan, math.inf, 3.0):
                cap.telemetry.queries.record("select", "users", value, "success")
            sdk = [r.getMessage() for r in caplog.records if r.name.startswith("opentelemetry")]
            results.append((_histograms(cap.reader), sdk))
    assert results[0] == results[1]
    assert len(results[0][1]) == 3  # negative, NaN, inf: one SDK warning each


def test_label_sets_past_the_cache_and_the_cardinality_limit() -> None:
    """Past the SDK's cardinality limit (2000) measurements go to its overflow series,
    past the recorder's cache the SDK records them: the same points either way."""
    results = []
    for fast in (True, False):
        reader = InMemoryMetricReader()
        provider = MeterProvider(metric_readers=[reader])
        record = histogram_recorder(provider.get_meter("azora_otel").create_histogram("h_ms"), fast)
        for round_ in range(2):
            for i in range(MAX_CACHED_LABEL_SETS + 5):
                record(1.0 + round_, i, {"n": str(i)})
        results.append(_histograms(reader))
        provider.shutdown()
    assert results[0] == results[1]
    overflow = [p for p in results[0]["h_ms"] if p[0] == (("otel.metric.overflow", True),)]
    assert overflow[0][1] == 2 * (MAX_CACHED_LABEL_SETS + 5 - 2000)


def test_a_histogram_that_is_not_the_sdks_is_recorded_as_it_is() -> None:
    calls: list[tuple[float, Any]] = []

    class Recording:
        def record(self, value: float, attributes: Any = None, context: Any = None) -> None:
            calls.append((value, attributes))

    record = histogram_recorder(Recording())  # type: ignore[arg-type]
    record(4.0, ("k",), {"a": "b"})
    assert calls == [(4.0, {"a": "b"})]


# ------------------------------------------------------------------ exemplar pieces


class _NotASpan:
    def get_span_context(self) -> SpanContext:
        raise AssertionError("never asked: not a span")


_CONTEXTS = {
    "none": Context(),
    "sampled": trace.set_span_in_context(_span(0x11)),
    "other": trace.set_span_in_context(_span(0x22)),
    "unsampled": trace.set_span_in_context(_span(0x33, sampled=False)),
    "invalid": trace.set_span_in_context(trace.INVALID_SPAN),
    "sdk": trace.set_span_in_context(TracerProvider().get_tracer("t").start_span("s")),
    "not_a_span": Context({_SPAN_KEY: _NotASpan()}),
}


def test_filter_decides_as_the_sdks() -> None:
    ours, theirs = TraceBasedFilter(), TraceBasedExemplarFilter()
    for name, context in _CONTEXTS.items():
        assert ours.should_sample(1.0, 1, {}, context) == theirs.should_sample(
            1.0, 1, {}, context
        ), name
    # The context argument missing: the current one, as the SDK reads it.
    for context in _CONTEXTS.values():
        token = otel_context.attach(context)
        try:
            assert ours.should_sample(1.0, 1, {}, None) == theirs.should_sample(  # type: ignore[arg-type]
                1.0,
                1,
                {},
                None,  # type: ignore[arg-type]
            )
        finally:
            otel_context.detach(token)


def _exemplars(reservoir: Any, point: dict[str, str]) -> list[tuple[Any, ...]]:
    return [
        (e.filtered_attributes, e.value, e.time_unix_nano, e.span_id, e.trace_id)
        for e in reservoir.collect(point)
    ]


_OFFERS = st.lists(
    st.one_of(
        st.tuples(
            st.sampled_from([*HTTP_DURATION_BUCKETS_MS, 0.0, 3.3, 77.0, 9e9]),
            st.sampled_from(sorted(_CONTEXTS)),
            st.sampled_from([None, {}, {"route": "/a"}, {"route": "/a", "extra": "x"}]),
        ),
        st.just("collect"),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(offers=_OFFERS)
def test_reservoir_keeps_what_the_sdks_keeps(offers: list[Any]) -> None:
    ours = LastPerBucketReservoir(HTTP_DURATION_BUCKETS_MS)
    theirs = AlignedHistogramBucketExemplarReservoir(HTTP_DURATION_BUCKETS_MS)
    point = {"route": "/a"}
    for i, offer in enumerate([*offers, "collect"]):
        if offer == "collect":
            assert _exemplars(ours, point) == _exemplars(theirs, point)
            continue
        value, context, attributes = offer
        for reservoir in (ours, theirs):
            reservoir.offer(value, i, attributes, _CONTEXTS[context])


def test_reservoir_with_other_boundaries() -> None:
    for bounds in (DB_DURATION_BUCKETS_MS, (), (0.0,), (-5.0, 5.0)):
        ours, theirs = (
            LastPerBucketReservoir(bounds),
            AlignedHistogramBucketExemplarReservoir(bounds),
        )
        for i, value in enumerate((-10.0, -5.0, 0.0, 4.0, 5.0, 6.0, 1e6)):
            for reservoir in (ours, theirs):
                reservoir.offer(value, i, {"a": "b"}, _CONTEXTS["sampled"])
        assert _exemplars(ours, {}) == _exemplars(theirs, {})
