"""The distro's OTLP span encoder writes exactly the bytes the upstream encoder writes.

Oracle: ``opentelemetry-exporter-otlp-proto-common``'s ``encode_spans`` (the
``opentelemetry-proto`` messages the upstream exporters send), serialized. Every span
shape the distro makes is produced by the real code paths (FastAPI's native server
span, the contrib server span, the SQL client span, error spans) plus synthetic
spans covering every field (events, links, trace state, dropped counts, every
attribute type, several resources and scopes).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as upstream
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
    set_span_in_context,
)

import azora_otel
from azora_otel._otlp_encode import encode_spans
from azora_otel.testing import capture


def assert_same(spans: list[ReadableSpan] | tuple[ReadableSpan, ...]) -> None:
    assert spans, "nothing to compare"
    expected = upstream(spans)
    ours = encode_spans(spans)
    assert ExportTraceServiceRequest.FromString(ours) == expected
    assert ours == expected.SerializePartialToString()


def _app_with_db(cap: Any) -> FastAPI:
    app = FastAPI()
    engine = sa.create_engine(
        "sqlite://", poolclass=sa.StaticPool, connect_args={"check_same_thread": False}
    )
    azora_otel.instrument_engine(engine, cap.telemetry)
    with engine.begin() as conn:
        conn.execute(sa.text("create table users (id integer primary key, name text)"))
        conn.execute(sa.text("insert into users values (1, 'ada')"))

    @app.get("/users/{user_id}")
    def user(user_id: int) -> dict[str, Any]:
        with engine.connect() as conn:
            row = conn.execute(sa.text("select name from users where id = :i"), {"i": user_id})
            return {"name": row.scalar_one()}

    @app.get("/broken-sql")
    def broken() -> None:
        with engine.connect() as conn:
            conn.execute(sa.text("select * from no_such_table"))

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    return app


async def _traffic(app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://shop.test:8080") as client:
        await client.get("/users/1")
        await client.get("/users/1?token=secret&page=2")
        await client.get("/no/such/route")
        await client.get("/boom")
        await client.get("/broken-sql")
        await client.post("/users/1")  # 405
        await client.get(
            "/users/1", headers={"traceparent": f"00-{'ab' * 16}-{'cd' * 8}-01"}
        )  # remote parent


def test_native_server_spans_sql_spans_and_error_spans() -> None:
    with capture({}) as cap:
        app = _app_with_db(cap)
        azora_otel.instrument_app(app, cap.telemetry)
        asyncio.run(_traffic(app))
        spans = cap.spans()
    kinds = {s.kind for s in spans}
    assert kinds == {SpanKind.SERVER, SpanKind.CLIENT}
    assert any(s.status.status_code is StatusCode.ERROR for s in spans if s.kind is SpanKind.CLIENT)
    assert any(s.parent is not None and s.parent.is_remote for s in spans)
    assert_same(spans)
    for span in spans:  # one at a time too: no state carried from one span to the next
        assert_same([span])


def test_contrib_server_spans_with_exception_events() -> None:
    """The server span of the contrib ASGI middleware (what FastAPI < 0.142 gets), whose
    error spans carry an ``exception`` event with the stack trace."""
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    from opentelemetry.metrics import NoOpMeterProvider

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with capture({}) as cap:
        app = _app_with_db(cap)
        FastAPIInstrumentor.instrument_app(
            app,
            tracer_provider=provider,
            meter_provider=NoOpMeterProvider(),
            exclude_spans=["receive", "send"],
        )
        asyncio.run(_traffic(app))
    spans = exporter.get_finished_spans()
    assert any(e.name == "exception" for s in spans for e in s.events)
    assert_same(spans)


def _spans(limits: SpanLimits | None = None, resource: Resource | None = None) -> Any:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(span_limits=limits, resource=resource or Resource.create({}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def test_every_field_and_attribute_type() -> None:
    provider, exporter = _spans(
        resource=Resource.create({"service.name": "shop", "k8s.pod.uid": "x"}, "https://s/1")
    )
    tracer = provider.get_tracer("lib", "1.2.3", schema_url="https://schema/2", attributes={"a": 1})
    remote = SpanContext(
        0x1234,
        0x5678,
        is_remote=True,
        trace_flags=TraceFlags(1),
        trace_state=TraceState([("v", "1")]),
    )
    links = [
        Link(remote, {"why": "retry", "n": 3}),
        Link(SpanContext(0xABC, 0xDEF, is_remote=False)),
    ]
    with tracer.start_as_current_span(
        "parent",
        context=set_span_in_context(NonRecordingSpan(remote)),
        kind=SpanKind.PRODUCER,
        links=links,
        attributes={
            "s": "é ✓",
            "empty": "",
            "t": True,
            "f": False,
            "zero": 0,
            "neg": -7,
            "big": 2**62,
            "pi": 3.25,
            "nan": float("nan"),
            "strs": ["a", "b"],
            "ints": [1, -2],
            "floats": [0.5],
            "bools": [True, False],
            "none_in": ["a", None],
            "empty_list": [],
        },
    ) as parent:
        parent.add_event(
            "started", {"count": 1, "tags": ["x"]}, timestamp=1_700_000_000_000_000_000
        )
        parent.add_event("no attributes")
        parent.set_status(Status(StatusCode.ERROR, "went wrong"))
        with tracer.start_as_current_span("child", kind=SpanKind.CONSUMER) as child:
            child.set_status(StatusCode.OK)
            child.record_exception(ValueError("bad value"))
        other = provider.get_tracer("other")
        with other.start_as_current_span("internal"):
            pass
    assert_same(exporter.get_finished_spans())


def test_dropped_attributes_events_and_links() -> None:
    provider, exporter = _spans(
        SpanLimits(max_span_attributes=2, max_events=1, max_links=1, max_event_attributes=1)
    )
    tracer = provider.get_tracer("limits")
    links = [Link(SpanContext(1, 2, False)), Link(SpanContext(3, 4, False))]
    with tracer.start_as_current_span(
        "s", attributes={"a": 1, "b": 2, "c": 3}, links=links
    ) as span:
        span.add_event("e1", {"x": 1, "y": 2})
        span.add_event("e2")
    spans = exporter.get_finished_spans()
    assert spans[0].dropped_attributes
    assert spans[0].dropped_events
    assert spans[0].dropped_links
    assert_same(spans)


def test_several_resources_and_scopes_keep_upstream_grouping_order() -> None:
    spans = []
    for service in ("a", "b", "a"):
        provider, exporter = _spans(resource=Resource.create({"service.name": service}))
        for scope in ("x", "y", "x"):
            with provider.get_tracer(scope).start_as_current_span(f"{service}-{scope}"):
                pass
        spans += exporter.get_finished_spans()
    assert_same(spans)


def test_values_upstream_cannot_encode_are_skipped_alike(caplog: pytest.LogCaptureFixture) -> None:
    provider, exporter = _spans()
    span = provider.get_tracer("t").start_span("s", attributes={"ok": 1})
    span.end()
    finished = exporter.get_finished_spans()[0]
    # Set after the SDK's validation, as a misbehaving processor could.
    finished._attributes = {"ok": 1, "huge": 2**70, "surrogate": "\udc80", "after": "x"}  # type: ignore[attr-defined]
    with caplog.at_level(logging.CRITICAL):
        assert_same([finished])


_values = st.one_of(
    st.text(max_size=20),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
    st.lists(st.text(max_size=5), max_size=3),
    st.lists(st.integers(min_value=-(2**63), max_value=2**63 - 1), max_size=3),
)


@settings(max_examples=150, deadline=None)
@given(
    attributes=st.dictionaries(st.text(min_size=1, max_size=12), _values, max_size=8),
    name=st.text(max_size=30),
)
def test_property_any_attributes_encode_like_upstream(
    attributes: dict[str, Any], name: str
) -> None:
    provider, exporter = _spans()
    tracer = provider.get_tracer("prop")
    for _ in range(2):  # the second pass is served from the attribute cache
        tracer.start_span(name, attributes=attributes).end()
    assert_same(exporter.get_finished_spans())
