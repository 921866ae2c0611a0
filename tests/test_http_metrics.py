"""The HTTP half of the metric contract, in memory: names, types, labels, buckets, counts."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

import pytest
from _client import families, get, run_requests
from fastapi import FastAPI, HTTPException
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, TraceIdRatioBased

import azora_otel
from azora_otel import _exchange
from azora_otel.testing import Capture, capture

HTTP_BUCKETS = ["10", "50", "100", "200", "500", "1000", "2000", "5000", "+Inf"]
SLOW_SLEEP_S = 0.12  # above the 100 ms default threshold


class Clock:
    """The middleware's clock, moved only by ``/slow``: every duration here is exact,
    however busy the machine (no request is assumed to be fast)."""

    now = 0.0

    def __call__(self) -> float:
        return self.now


CLOCK = Clock()


@pytest.fixture(autouse=True)
def controlled_time(monkeypatch: pytest.MonkeyPatch) -> None:
    CLOCK.now = 1000.0
    monkeypatch.setattr(_exchange, "perf_counter", CLOCK)


def make_app() -> FastAPI:
    app = FastAPI()

    @app.get("/orders/{order_id}")
    async def get_order(order_id: int) -> dict[str, int]:
        return {"id": order_id}

    @app.post("/orders")
    def create_order() -> dict[str, str]:
        return {"status": "created"}

    @app.get("/slow")
    async def slow() -> dict[str, str]:
        CLOCK.now += SLOW_SLEEP_S
        await asyncio.sleep(0)
        return {}

    @app.get("/fail")
    async def fail() -> None:
        raise RuntimeError("unhandled")

    @app.get("/unavailable")
    async def unavailable() -> None:
        raise HTTPException(status_code=503)

    @app.get("/forbidden")
    async def forbidden() -> None:
        raise HTTPException(status_code=403)

    return app


TRAFFIC = [
    ("GET", "/orders/1"),
    ("GET", "/orders/2"),
    ("GET", "/orders/3"),
    ("POST", "/orders"),
    ("GET", "/slow"),
    ("GET", "/fail"),
    ("GET", "/unavailable"),
    ("GET", "/forbidden"),
    ("GET", "/no/such/path"),
    ("GET", "/wp-login.php"),
    ("BREW", "/orders/1"),
    ("PURGE", "/somewhere"),
]
EXPECTED_REQUESTS = Counter(
    {
        ("GET", "/orders/{order_id}", "200"): 3,
        ("POST", "/orders", "200"): 1,
        ("GET", "/slow", "200"): 1,
        ("GET", "/fail", "500"): 1,
        ("GET", "/unavailable", "503"): 1,
        ("GET", "/forbidden", "403"): 1,
        ("GET", "unmatched", "404"): 2,
        ("_OTHER", "/orders/{order_id}", "405"): 1,
        ("_OTHER", "unmatched", "404"): 1,
    }
)


@pytest.fixture
def served(cap: Capture) -> Capture:
    app = azora_otel.instrument_app(make_app(), cap.telemetry)
    run_requests(app, TRAFFIC)
    return cap


def _series(family: object, suffix: str = "") -> dict[tuple[str, ...], float]:
    found: dict[tuple[str, ...], float] = {}
    for sample in family.samples:  # type: ignore[attr-defined]
        if sample.name.endswith(suffix):
            found[tuple(sorted(sample.labels.items()))] = sample.value  # type: ignore[assignment]
    return found


def test_exposition_has_exactly_the_contract_families(served: Capture) -> None:
    found = families(served.exposition())
    assert set(found) == {
        "http_request_duration_ms",
        "http_requests",  # the parser drops the _total suffix of counters
        "http_error_rate",
        "slow_requests",
    }
    assert found["http_request_duration_ms"].type == "histogram"
    assert found["http_requests"].type == "counter"
    assert found["http_error_rate"].type == "gauge"
    assert found["slow_requests"].type == "counter"
    text = served.exposition()
    assert "# TYPE http_requests_total counter" in text
    assert "# TYPE http_request_duration_ms histogram" in text
    assert "_milliseconds" not in text
    assert "otel_scope" not in text
    assert "target_info" not in text


def test_request_counts_are_exact_per_method_route_status(served: Capture) -> None:
    family = families(served.exposition())["http_requests"]
    counts = {
        (s.labels["method"], s.labels["route"], s.labels["status_code"]): s.value
        for s in family.samples
        if s.name == "http_requests_total"
    }
    assert counts == {key: float(n) for key, n in EXPECTED_REQUESTS.items()}
    for sample in family.samples:
        assert set(sample.labels) == {"method", "route", "status_code"}


def test_histogram_labels_buckets_and_counts(served: Capture) -> None:
    family = families(served.exposition())["http_request_duration_ms"]
    buckets: dict[tuple[str, str, str], list[str]] = {}
    counts: dict[tuple[str, str, str], float] = {}
    for sample in family.samples:
        labels = dict(sample.labels)
        le = labels.pop("le", None)
        assert set(labels) == {"method", "route", "status_code"}
        key = (labels["method"], labels["route"], labels["status_code"])
        if sample.name.endswith("_bucket"):
            buckets.setdefault(key, []).append(le)
        elif sample.name.endswith("_count"):
            counts[key] = sample.value
    assert counts == {key: float(n) for key, n in EXPECTED_REQUESTS.items()}
    for key, les in buckets.items():
        assert les == HTTP_BUCKETS, key
    slow_buckets = {
        s.labels["le"]: s.value
        for s in family.samples
        if s.name.endswith("_bucket") and s.labels["route"] == "/slow"
    }
    assert slow_buckets["100"] == 0  # slept 120 ms
    assert slow_buckets["+Inf"] == 1


def test_slow_requests_counted_against_the_threshold(served: Capture) -> None:
    family = families(served.exposition())["slow_requests"]
    slow = {
        (s.labels["method"], s.labels["route"]): s.value
        for s in family.samples
        if s.name == "slow_requests_total"
    }
    assert slow == {("GET", "/slow"): 1.0}
    for sample in family.samples:
        assert set(sample.labels) == {"method", "route"}


def test_error_rate_counts_5xx_and_exceptions_not_4xx(served: Capture) -> None:
    family = families(served.exposition())["http_error_rate"]
    (sample,) = family.samples
    assert sample.labels == {"service": "unknown_service"}
    errors = sum(n for (_, _, status), n in EXPECTED_REQUESTS.items() if status.startswith("5"))
    assert errors == 2
    assert sample.value == pytest.approx(errors / sum(EXPECTED_REQUESTS.values()))


def test_threshold_is_configurable() -> None:
    with capture({"PERF_API_LATENCY_MS": "1000"}) as cap:
        app = azora_otel.instrument_app(make_app(), cap.telemetry)
        run_requests(app, [("GET", "/slow")])
        assert cap.value("slow_requests_total") == 0
        assert cap.value("http_requests_total") == 1


def test_metrics_scrapes_are_not_counted_and_serve_text(cap: Capture) -> None:
    app = azora_otel.instrument_app(make_app(), cap.telemetry)
    run_requests(app, [("GET", "/orders/1")])
    for _ in range(3):
        response = get(app, "/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert cap.value("http_requests_total") == 1
    assert 'route="/metrics"' not in response.text
    assert len(cap.spans()) == 1  # the one real request; scrapes make no span


def test_openmetrics_is_negotiated(cap: Capture) -> None:
    app = azora_otel.instrument_app(make_app(), cap.telemetry)
    run_requests(app, [("GET", "/orders/1")])
    response = get(app, "/metrics", headers={"accept": "application/openmetrics-text"})
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.rstrip().endswith("# EOF")


def test_metrics_path_can_be_moved() -> None:
    with capture({"AZORA_METRICS_PATH": "/internal/prom"}) as cap:
        app = azora_otel.instrument_app(make_app(), cap.telemetry)
        assert get(app, "/metrics").status_code == 404
        response = get(app, "/internal/prom")
        assert response.status_code == 200
        assert "http_requests_total" in response.text
        # the 404 on /metrics was an ordinary unmatched request
        assert cap.value("http_requests_total", route="unmatched") == 1


def test_metrics_path_can_be_turned_off() -> None:
    with capture({"AZORA_METRICS_PATH": "off"}) as cap:
        app = azora_otel.instrument_app(make_app(), cap.telemetry)
        assert get(app, "/metrics").status_code == 404
        assert cap.value("http_requests_total") == 1


def test_app_route_named_like_the_metrics_path_wins_when_path_is_off() -> None:
    app = make_app()

    @app.get("/metrics")
    def own_metrics() -> dict[str, str]:
        return {"mine": "yes"}

    with capture({"AZORA_METRICS_PATH": "off"}) as cap:
        azora_otel.instrument_app(app, cap.telemetry)
        assert get(app, "/metrics").json() == {"mine": "yes"}


@pytest.mark.parametrize("sampler", [ALWAYS_OFF, TraceIdRatioBased(0.01)])
def test_counts_are_complete_whatever_the_sampler(sampler: object) -> None:
    with capture(sampler=sampler) as cap:  # type: ignore[arg-type]
        app = azora_otel.instrument_app(make_app(), cap.telemetry)
        run_requests(app, [("GET", f"/orders/{i}") for i in range(200)])
        assert cap.value("http_requests_total") == 200
        assert cap.value("http_request_duration_ms") == 200
        assert len(cap.spans()) < 20


def test_metrics_only_mode_creates_no_span() -> None:
    with capture(tracing=False) as cap:
        app = azora_otel.instrument_app(make_app(), cap.telemetry)
        run_requests(app, TRAFFIC)
        assert cap.value("http_requests_total") == len(TRAFFIC)
        assert cap.spans() == ()
        from opentelemetry import trace

        # no span reached the global provider either
        assert not trace.get_current_span().get_span_context().is_valid


def test_one_server_span_per_request_without_send_receive_spans(cap: Capture) -> None:
    app = azora_otel.instrument_app(make_app(), cap.telemetry)
    run_requests(app, [("GET", "/orders/7"), ("POST", "/orders")])
    spans = cap.spans()
    assert [s.name for s in spans] == ["GET /orders/{order_id}", "POST /orders"]
    from opentelemetry.trace import SpanKind

    assert all(s.kind is SpanKind.SERVER for s in spans)


def test_slow_request_log_record_is_structured(
    cap: Capture, azora_records: list[logging.LogRecord]
) -> None:
    app = azora_otel.instrument_app(make_app(), cap.telemetry)
    run_requests(app, [("GET", "/slow"), ("GET", "/orders/1")])
    records = [r.azora for r in azora_records if r.azora["event"] == "slow_request"]  # type: ignore[attr-defined]
    assert all(r.levelno == logging.WARNING for r in azora_records)
    assert len(records) == 1
    (fields,) = records
    assert fields["method"] == "GET"
    assert fields["route"] == "/slow"
    assert fields["duration_ms"] == pytest.approx(SLOW_SLEEP_S * 1000)
    assert fields["threshold_ms"] == 100
    (span,) = [s for s in cap.spans() if s.name == "GET /slow"]
    assert fields["trace_id"] == format(span.context.trace_id, "032x")
    assert fields["span_id"] == format(span.context.span_id, "016x")


def test_error_rate_crossing_logs_once_then_recovery_once(
    azora_records: list[logging.LogRecord],
) -> None:
    with capture({"PERF_ERROR_RATE": "0.2"}) as cap:
        app = azora_otel.instrument_app(make_app(), cap.telemetry)
        # 1 error in 2 -> 50 % > 20 %: crossed; more errors: still above, no new record
        run_requests(app, [("GET", "/orders/1"), ("GET", "/fail"), ("GET", "/fail")])
        # 2 errors in 13 = 15 % <= 20 %: recovered, once
        run_requests(app, [("GET", "/orders/1")] * 10)
    events = [r.azora["event"] for r in azora_records]  # type: ignore[attr-defined]
    assert events.count("error_rate_exceeded") == 1
    assert events.count("error_rate_recovered") == 1
    assert events.index("error_rate_exceeded") < events.index("error_rate_recovered")


def test_performance_stats(served: Capture) -> None:
    stats = azora_otel.get_performance_stats(served.telemetry)
    total = sum(EXPECTED_REQUESTS.values())
    assert stats.total_requests == total
    assert stats.error_requests == 2
    assert stats.error_rate == pytest.approx(2 / total)
    assert stats.error_rate_percent == f"{2 / total * 100:.2f}%"
    assert stats.slow_requests == 1
    assert stats.thresholds.api_latency_ms == 100
    assert stats.thresholds.db_query_ms == 50
    assert stats.thresholds.error_rate == 0.001
    # 11 of 12 requests took no time on the controlled clock, one took 120 ms; the
    # estimates interpolate within the buckets like histogram_quantile:
    assert stats.p50_ms == pytest.approx(10 * 6 / 11)  # rank 6 of the 11 in (0, 10]
    assert stats.p99_ms == pytest.approx(100 + 100 * (0.99 * 12 - 11))  # in (100, 200]


def test_get_metrics_returns_the_exposition(served: Capture) -> None:
    text = azora_otel.get_metrics(served.telemetry)
    assert text == served.exposition()


def test_instrumenting_twice_does_not_double_count(cap: Capture) -> None:
    app = make_app()
    azora_otel.instrument_app(app, cap.telemetry)
    azora_otel.instrument_app(app, cap.telemetry)
    run_requests(app, [("GET", "/orders/1")])
    assert cap.value("http_requests_total") == 1


def test_app_instrumented_after_it_served_traffic(cap: Capture) -> None:
    app = make_app()
    run_requests(app, [("GET", "/orders/1")])  # stack built without the middleware
    azora_otel.instrument_app(app, cap.telemetry)
    run_requests(app, [("GET", "/orders/1")])
    assert cap.value("http_requests_total") == 1


def test_operation_spans_can_be_turned_on() -> None:
    from azora_otel._fastapi import NATIVE_TELEMETRY

    with capture({"AZORA_FASTAPI_OPERATION_SPANS": "true"}) as cap:
        app = azora_otel.instrument_app(make_app(), cap.telemetry)
        run_requests(app, [("GET", "/orders/1")])
        names = [s.name for s in cap.spans()]
    assert "GET /orders/{order_id}" in names
    if NATIVE_TELEMETRY:  # FastAPI's own operation spans (dependencies, endpoint, ...)
        assert len(names) > 1
    else:  # older FastAPI has none to turn on: still one span
        assert len(names) == 1
