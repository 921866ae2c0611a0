"""The in-process exposition is valid after anything: one family per name, current
values, whatever collections, flushes and renders came before; promtool accepts it
(the contract's ``_ms`` names aside); OpenMetrics carries exemplars when tracing is on.
"""

from __future__ import annotations

import re
import threading
from collections import Counter

import pytest
from _client import get, run_requests
from _promtool import unexpected_complaints
from fastapi import FastAPI
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, TraceBasedExemplarFilter
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_families
from prometheus_client.parser import text_string_to_metric_families

import azora_otel
from azora_otel.testing import Capture, capture

OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"


def help_lines(text: str) -> Counter[str]:
    return Counter(line.split()[2] for line in text.splitlines() if line.startswith("# HELP "))


def value(text: str, sample_name: str, **labels: str) -> float:
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == sample_name and all(
                sample.labels.get(k) == v for k, v in labels.items()
            ):
                total += sample.value
    return total


def record_request(cap: Capture, route: str = "/x", duration_ms: float = 12.0) -> None:
    cap.telemetry.requests.record("GET", route, 200, duration_ms)


def assert_valid(text: str) -> None:
    duplicated = {name: n for name, n in help_lines(text).items() if n > 1}
    assert not duplicated, f"families rendered more than once: {duplicated}\n{text}"
    list(text_string_to_metric_families(text))  # parses


# -- one family per name, current values -----------------------------------------


def test_render_after_a_flush_shows_each_family_once_with_current_values(cap: Capture) -> None:
    record_request(cap)
    cap.telemetry.flush()  # a collection that no render consumed (the bug queued it)
    record_request(cap)
    text = cap.exposition()
    assert_valid(text)
    assert value(text, "http_requests_total", route="/x") == 2


# Starlette 1.x asks for httpx2 in its TestClient and warns with httpx; users' tests
# still run it with httpx, which is what this test does.
@pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
def test_get_metrics_after_a_testclient_block(cap: Capture) -> None:
    from fastapi.testclient import TestClient

    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    azora_otel.instrument_app(app, cap.telemetry)
    with TestClient(app) as client:  # the lifespan's shutdown flushes
        assert client.get("/items/1").status_code == 200
    with TestClient(app) as client:
        assert client.get("/items/2").status_code == 200
    text = azora_otel.get_metrics(cap.telemetry)
    assert_valid(text)
    assert value(text, "http_requests_total", route="/items/{item_id}") == 2
    assert value(text, "http_request_duration_ms_count", route="/items/{item_id}") == 2


OPERATIONS = st.lists(st.sampled_from(["record", "flush", "collect", "render"]), max_size=12)


@settings(max_examples=40, deadline=None)
@given(OPERATIONS)
def test_any_sequence_of_records_collections_flushes_and_renders(operations: list[str]) -> None:
    with capture() as cap:
        recorded = 0
        for operation in [*operations, "render"]:
            if operation == "record":
                record_request(cap)
                recorded += 1
            elif operation == "flush":
                cap.telemetry.flush()
            elif operation == "collect":
                assert cap.telemetry.prometheus is not None
                cap.telemetry.prometheus.collect()
            else:
                text = cap.exposition()
                assert_valid(text)
                assert value(text, "http_requests_total") == recorded


def test_concurrent_renders_and_flushes_each_render_valid(cap: Capture) -> None:
    record_request(cap)
    texts: list[str] = []
    errors: list[BaseException] = []

    def renders() -> None:
        try:
            for _ in range(30):
                texts.append(cap.exposition())
        except BaseException as error:
            errors.append(error)

    def flushes() -> None:
        for _ in range(30):
            cap.telemetry.flush()

    threads = [threading.Thread(target=renders) for _ in range(3)]
    threads.append(threading.Thread(target=flushes))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors
    assert len(texts) == 90
    for text in texts:
        assert_valid(text)
        assert value(text, "http_requests_total") == 1


def test_two_meters_with_one_prometheus_name_render_one_family(azora_records) -> None:
    with capture({"AZORA_OTHER_METRICS": "keep"}) as kept:
        meters = [kept.telemetry.meter_provider.get_meter(n) for n in ("lib.one", "lib.two")]
        meters[0].create_counter("jobs", description="one").add(1)
        meters[1].create_counter("jobs", description="two").add(5)
        text = kept.exposition()
    assert_valid(text)
    assert value(text, "jobs_total") == 1  # the first one registered is kept
    assert any("jobs" in r.getMessage() and "lib.two" in r.getMessage() for r in azora_records)


# -- promtool ---------------------------------------------------------------------


def full_exposition(cap: Capture) -> str:
    """Every family of the contract, with label values that need escaping."""
    telemetry = cap.telemetry
    telemetry.requests.record("GET", "/orders/{order_id}", 200, 12.0)
    telemetry.requests.record("POST", '/odd/"quoted"\\path\nnew', 500, 700.0)
    telemetry.queries.record("select", "orders", 3.0, "success")
    telemetry.queries.record("update", "orders", 300.0, "error")
    return cap.exposition()


def test_promtool_accepts_the_exposition_but_for_the_ms_names(cap: Capture) -> None:
    text = full_exposition(cap)
    assert set(help_lines(text)) == {
        "http_request_duration_ms",
        "http_requests_total",
        "http_error_rate",
        "slow_requests_total",
        "db_query_duration_ms",
        "db_queries_total",
        "slow_queries_total",
    }
    assert unexpected_complaints(text) == []


def test_promtool_accepts_the_exposition_after_a_flush(cap: Capture) -> None:
    full_exposition(cap)
    cap.telemetry.flush()
    assert unexpected_complaints(cap.exposition()) == []


def test_promtool_check_catches_a_duplicate_family(cap: Capture) -> None:
    """The check itself fails on what the flush bug produced (it is not vacuous)."""
    text = full_exposition(cap)
    block = "\n".join(line for line in text.splitlines() if "http_error_rate" in line)
    assert unexpected_complaints(text + block + "\n")


# -- exemplars --------------------------------------------------------------------


def traced_app(cap: Capture) -> FastAPI:
    app = FastAPI()

    @app.get("/orders/{order_id}")
    async def order(order_id: int) -> dict[str, int]:
        return {"id": order_id}

    return azora_otel.instrument_app(app, cap.telemetry)


def bucket_exemplars(text: str, family: str) -> list[tuple[dict[str, str], dict[str, str], float]]:
    """``(bucket labels, exemplar labels, exemplar value)`` of an OpenMetrics text."""
    found = []
    for metric in om_families(text):
        if metric.name != family:
            continue
        for sample in metric.samples:
            if sample.exemplar is not None:
                found.append((sample.labels, sample.exemplar.labels, sample.exemplar.value))
    return found


def test_openmetrics_buckets_carry_the_trace_of_a_request_that_fell_in_them(cap: Capture) -> None:
    app = traced_app(cap)
    assert run_requests(app, [("GET", "/orders/1")]) == [200]
    (span,) = [s for s in cap.spans() if s.kind.name == "SERVER"]
    response = get(app, "/metrics", headers={"Accept": OPENMETRICS})
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    (found,) = bucket_exemplars(response.text, "http_request_duration_ms")
    bucket, exemplar, duration = found
    assert bucket["route"] == "/orders/{order_id}"
    assert exemplar == {
        "trace_id": format(span.context.trace_id, "032x"),
        "span_id": format(span.context.span_id, "016x"),
    }
    upper = float(bucket["le"])
    lower = max((b for b in (0, 10, 50, 100, 200, 500, 1000, 2000, 5000) if b < upper), default=0)
    assert lower < duration <= upper
    # The plain text format has no exemplars, and promtool accepts it.
    plain = get(app, "/metrics").text
    assert "trace_id" not in plain
    assert unexpected_complaints(plain) == []


def test_exemplar_stays_on_its_bucket_after_a_flush_and_later_scrapes(cap: Capture) -> None:
    app = traced_app(cap)
    run_requests(app, [("GET", "/orders/1")])
    cap.telemetry.flush()  # takes the SDK's exemplars: the exposition keeps them
    first = bucket_exemplars(
        get(app, "/metrics", {"Accept": OPENMETRICS}).text, "http_request_duration_ms"
    )
    second = bucket_exemplars(
        get(app, "/metrics", {"Accept": OPENMETRICS}).text, "http_request_duration_ms"
    )
    assert len(first) == 1
    assert first == second


def test_no_exemplars_and_no_exemplar_work_in_metrics_only_mode() -> None:
    with capture(tracing=False) as cap:
        sdk_config = cap.telemetry.meter_provider._sdk_config
        assert isinstance(sdk_config.exemplar_filter, AlwaysOffExemplarFilter)
        app = traced_app(cap)
        run_requests(app, [("GET", "/orders/1")])
        text = get(app, "/metrics", {"Accept": OPENMETRICS}).text
        assert "# {" not in text
        assert bucket_exemplars(text, "http_request_duration_ms") == []


def test_tracing_on_uses_the_trace_based_filter(cap: Capture) -> None:
    assert isinstance(
        cap.telemetry.meter_provider._sdk_config.exemplar_filter, TraceBasedExemplarFilter
    )


def test_openmetrics_exposition_parses_with_exemplars_on_every_bucket(cap: Capture) -> None:
    app = traced_app(cap)
    tracer = cap.telemetry.tracer_provider.get_tracer("test")  # type: ignore[union-attr]
    for duration in (5, 30, 70, 150, 300, 800, 1500, 3000, 9000):
        with tracer.start_as_current_span("work"):
            cap.telemetry.requests.record("GET", "/orders/{order_id}", 200, duration)
    text = get(app, "/metrics", {"Accept": OPENMETRICS}).text
    assert text.endswith("# EOF\n")
    found = bucket_exemplars(text, "http_request_duration_ms")
    assert sorted(b["le"] for b, _, _ in found) == sorted(
        ["10", "50", "100", "200", "500", "1000", "2000", "5000", "+Inf"]
    )
    assert all(re.fullmatch(r"[0-9a-f]{32}", e["trace_id"]) for _, e, _ in found)


@pytest.mark.parametrize("accept", [None, "text/plain; version=0.0.4", "*/*"])
def test_text_format_unless_openmetrics_is_asked_for(cap: Capture, accept: str | None) -> None:
    app = traced_app(cap)
    headers = {"Accept": accept} if accept else None
    response = get(app, "/metrics", headers)
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
