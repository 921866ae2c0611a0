"""The metrics path: served only where the app has no route of its own; scrapes are the
only requests neither counted nor traced, whatever the method."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from starlette.responses import PlainTextResponse
from starlette.staticfiles import StaticFiles

import azora_otel
from azora_otel import Settings, Telemetry
from azora_otel.testing import Capture, capture, installed

METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")
OUR_FAMILY = "# TYPE http_error_rate gauge"  # always in the exposition


def send(app: FastAPI, requests: list[tuple[str, str]]) -> list[httpx.Response]:
    async def main() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return [await client.request(method, path) for method, path in requests]

    return asyncio.run(main())


def base_app() -> FastAPI:
    app = FastAPI()

    @app.get("/orders/{order_id}")
    async def order(order_id: int) -> dict[str, int]:
        return {"id": order_id}

    return app


def with_get_route() -> FastAPI:
    app = base_app()

    @app.get("/metrics")
    async def own() -> PlainTextResponse:
        return PlainTextResponse("the app's own metrics")

    return app


def with_post_route_only() -> FastAPI:
    app = base_app()

    @app.post("/metrics")
    async def ingest() -> dict[str, str]:
        return {"ingested": "yes"}

    return app


def with_mounted_client_app() -> FastAPI:
    from prometheus_client import CollectorRegistry, make_asgi_app

    app = base_app()
    app.mount("/metrics", make_asgi_app(CollectorRegistry()))
    return app


def with_router_route() -> FastAPI:
    router = APIRouter()

    @router.get("")
    async def own() -> PlainTextResponse:
        return PlainTextResponse("the router's metrics")

    app = base_app()
    app.include_router(router, prefix="/metrics")
    return app


OWNERS = {
    "get_route": (with_get_route, 200),
    "post_route_only": (with_post_route_only, 405),  # the app's router says so
    "mounted_prometheus_client": (with_mounted_client_app, 307),  # redirects to /metrics/
    "included_router": (with_router_route, 200),
}


@pytest.fixture
def launched() -> Iterator[Capture]:
    with capture() as cap, installed(cap.telemetry, auto_instrument=True):
        yield cap


def notices(records: list[logging.LogRecord]) -> list[logging.LogRecord]:
    return [r for r in records if r.azora.get("event") == "metrics_path_in_use"]  # type: ignore[attr-defined]


@pytest.mark.parametrize("owner", OWNERS, ids=str)
def test_an_app_that_routes_the_metrics_path_keeps_it(
    owner: str, launched: Capture, azora_records: list[logging.LogRecord]
) -> None:
    build, status = OWNERS[owner]
    app = build()
    responses = send(app, [("GET", "/metrics")] * 3 + [("GET", "/orders/1")])
    assert [r.status_code for r in responses[:3]] == [status] * 3
    assert all(OUR_FAMILY not in r.text for r in responses)
    assert launched.value("http_requests_total") == 4  # the app's route is traffic
    (notice,) = notices(azora_records)  # said once, at start-up
    assert notice.levelno == logging.WARNING
    message = notice.getMessage()
    assert "/metrics" in message
    assert "AZORA_METRICS_PATH" in message
    assert "AZORA_METRICS_PORT" in message


def test_an_app_without_a_metrics_route_gets_the_exposition(
    launched: Capture, azora_records: list[logging.LogRecord]
) -> None:
    app = base_app()
    app.mount("/", StaticFiles(directory="tests/conformance/static"))  # a catch-all SPA mount
    (response,) = send(app, [("GET", "/metrics")])
    assert OUR_FAMILY in response.text
    assert launched.value("http_requests_total") == 0
    assert notices(azora_records) == []


def test_instrument_app_also_leaves_the_apps_route_alone(
    cap: Capture, azora_records: list[logging.LogRecord]
) -> None:
    app = azora_otel.instrument_app(with_get_route(), cap.telemetry)
    (response,) = send(app, [("GET", "/metrics")])
    assert response.text == "the app's own metrics"
    assert len(notices(azora_records)) == 1


def server_spans(cap: Capture) -> int:
    return sum(1 for s in cap.spans() if s.kind is SpanKind.SERVER)


@pytest.mark.parametrize("method", METHODS)
def test_counts_and_spans_agree_on_the_metrics_path(method: str, cap: Capture) -> None:
    """Only GET/HEAD scrapes are answered by the exposition: they are neither counted nor
    traced. Any other method reaches the app: counted once, one server span."""
    app = azora_otel.instrument_app(base_app(), cap.telemetry)
    (response,) = send(app, [(method, "/metrics")])
    scrape = method in ("GET", "HEAD")
    assert (response.status_code == 200) is scrape
    assert cap.value("http_requests_total") == (0 if scrape else 1)
    assert server_spans(cap) == (0 if scrape else 1)


def test_without_the_exposition_the_metrics_path_is_ordinary_traffic() -> None:
    """OTEL_METRICS_EXPORTER without prometheus: /metrics is the app's; counted and traced."""
    reader = InMemoryMetricReader()
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry = Telemetry.build(Settings(), readers=[reader], tracer_provider=tracer_provider)
    try:
        app = azora_otel.instrument_app(base_app(), telemetry)
        assert [r.status_code for r in send(app, [("GET", "/metrics")])] == [404]
        assert azora_otel.get_performance_stats(telemetry).total_requests == 1
        spans = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER]
        assert len(spans) == 1
    finally:
        telemetry.shutdown()


def test_the_exposition_is_found_below_the_root_path(cap: Capture) -> None:
    """``uvicorn --root-path /svc``: the app routes below /svc, the exposition too."""
    app = azora_otel.instrument_app(base_app(), cap.telemetry)

    async def main() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app, root_path="/svc")
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return [await client.get("/svc/orders/1"), await client.get("/svc/metrics")]

    order, scrape = asyncio.run(main())
    assert order.status_code == 200
    assert OUR_FAMILY in scrape.text
    assert cap.value("http_requests_total", route="/svc/orders/{order_id}") == 1
    assert cap.value("http_requests_total") == 1
