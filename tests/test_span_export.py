"""What leaves the process in a span: the attributes users need, by the semantic conventions,
sent by the distro's exporters (gRPC and HTTP) to the real Collector.

Oracles: the request the client sent and the route FastAPI matched; the OTLP bytes decoded
with ``opentelemetry-proto``; the real Collector's own counters of accepted and refused
spans (``otelcol_receiver_accepted_spans``), scraped from its telemetry endpoint.
"""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PBSpan

import azora_otel
from azora_otel import Settings, Telemetry
from azora_otel._otlp_encode import encode_spans
from azora_otel._otlp_export import GRPCSpanExporter, HTTPSpanExporter
from azora_otel.testing import capture

sys.path.insert(0, str(Path(__file__).parent))
import stack

HTTP_SERVER_ATTRIBUTES = {
    "http.request.method",
    "url.scheme",
    "url.path",
    "server.address",
    "server.port",
    "network.protocol.version",
    "http.route",
    "http.response.status_code",
}
"""The HTTP server span's attributes (semantic conventions 1.x, stable HTTP), always set
on a routed request; ``url.query`` with a query string, ``error.type`` on failure."""


def _value(any_value: Any) -> Any:
    return getattr(any_value, any_value.WhichOneof("value"))


def _decoded(spans: Any) -> list[PBSpan]:
    request = ExportTraceServiceRequest.FromString(encode_spans(spans))
    return [s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]


def _shop(cap: Any) -> FastAPI:
    app = FastAPI()
    engine = sa.create_engine(
        "sqlite://", poolclass=sa.StaticPool, connect_args={"check_same_thread": False}
    )
    azora_otel.instrument_engine(engine, cap.telemetry)
    with engine.begin() as conn:
        conn.execute(sa.text("create table orders (id integer primary key, total int)"))
        conn.execute(sa.text("insert into orders values (7, 42)"))

    @app.get("/orders/{order_id}")
    def order(order_id: int) -> dict[str, int]:
        with engine.connect() as conn:
            total = conn.execute(sa.text("select total from orders where id = :i"), {"i": order_id})
            return {"total": total.scalar_one()}

    @app.get("/fail")
    async def fail() -> None:
        raise RuntimeError("nope")

    return app


def test_server_and_query_spans_carry_the_semantic_convention_attributes() -> None:
    with capture({}) as cap:
        app = _shop(cap)
        azora_otel.instrument_app(app, cap.telemetry)

        async def traffic() -> list[int]:
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://shop.test:8080"
            ) as client:
                return [
                    (await client.get("/orders/7?page=2&token=abc")).status_code,
                    (await client.get("/fail")).status_code,
                ]

        assert asyncio.run(traffic()) == [200, 500]
        spans = _decoded(cap.spans())
    server = next(s for s in spans if s.name == "GET /orders/{order_id}")
    attrs = {kv.key: _value(kv.value) for kv in server.attributes}
    assert set(attrs) >= HTTP_SERVER_ATTRIBUTES
    assert server.kind == PBSpan.SPAN_KIND_SERVER
    assert attrs["http.request.method"] == "GET"
    assert attrs["url.scheme"] == "http"
    assert attrs["url.path"] == "/orders/7"
    assert attrs["url.query"] == "page=2&token=REDACTED"
    assert attrs["server.address"] == "shop.test"
    assert attrs["server.port"] == 8080
    assert attrs["network.protocol.version"] == "1.1"
    assert attrs["http.route"] == "/orders/{order_id}"
    assert attrs["http.response.status_code"] == 200
    assert "error.type" not in attrs

    failed = next(s for s in spans if s.name == "GET /fail")
    failed_attrs = {kv.key: _value(kv.value) for kv in failed.attributes}
    assert failed_attrs["http.response.status_code"] == 500
    assert failed_attrs["error.type"] == "RuntimeError"
    assert failed.status.code == failed.status.STATUS_CODE_ERROR

    query = next(
        s
        for s in spans
        if s.kind == PBSpan.SPAN_KIND_CLIENT and "select total" in str(s.attributes).lower()
    )
    query_attrs = {kv.key: _value(kv.value) for kv in query.attributes}
    assert query.parent_span_id == server.span_id
    assert query.trace_id == server.trace_id
    assert query_attrs["db.system"] == "sqlite"
    assert "select total from orders where id = ?" in str(query_attrs).lower()


def _spans_for(exporter_env: dict[str, str]) -> tuple[int, Telemetry]:
    telemetry = Telemetry.build(Settings.from_env(exporter_env))
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    azora_otel.instrument_app(app, telemetry)

    async def traffic() -> int:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            for i in range(25):
                assert (await client.get(f"/items/{i}")).status_code == 200
        return 25

    return asyncio.run(traffic()), telemetry


def _accepted(collector: stack.Collector, transport: str) -> tuple[float, float]:
    status, body = stack.http_get(f"http://{stack.HOST}:{collector.ports.telemetry}/metrics")
    assert status == 200
    accepted = refused = 0.0
    for line in body.decode().splitlines():
        if f'transport="{transport}"' not in line or line.startswith("#"):
            continue
        value = float(line.rsplit(" ", 1)[1])
        if re.match(r"otelcol_receiver_accepted_spans(_total)?\{", line):
            accepted += value
        elif re.match(r"otelcol_receiver_refused_spans(_total)?\{", line):
            refused += value
    return accepted, refused


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("protocol", "transport", "exporter"),
    [("grpc", "grpc", GRPCSpanExporter), ("http/protobuf", "http", HTTPSpanExporter)],
)
def test_the_real_collector_accepts_every_span(
    tmp_path: Path, protocol: str, transport: str, exporter: type
) -> None:
    with stack.run_collector(tmp_path / "collector") as collector:
        url = collector.otlp_grpc_url if transport == "grpc" else collector.otlp_http_url
        env = {
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_METRICS_EXPORTER": "none",
            "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
            "OTEL_EXPORTER_OTLP_ENDPOINT": url,
        }
        with pytest.MonkeyPatch.context() as mp:
            for key, value in env.items():  # the exporter classes read these themselves
                mp.setenv(key, value)
            sent, telemetry = _spans_for(env)
            processors = telemetry.tracer_provider._active_span_processor._span_processors  # type: ignore[union-attr]
            assert any(type(getattr(p, "span_exporter", None)) is exporter for p in processors)
            telemetry.flush()
            telemetry.shutdown()
        stack.wait_for(
            lambda: _accepted(collector, transport)[0] >= sent,
            timeout=30,
            what=f"{sent} spans accepted over {transport}",
        )
        assert _accepted(collector, transport) == (sent, 0)
