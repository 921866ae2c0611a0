"""The sampling gate decides as the SDK's sampler would, and a dropped request or query
behaves as it did without the gate (same trace propagated, no span, metrics complete).

Oracles: the SDK samplers' own ``should_sample``; the same traffic with
``AZORA_SAMPLING_GATE=false`` (every decision left to the SDK's ``start_span``); the
``traceparent`` an outgoing call would send (the W3C propagator's ``inject``).
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry import baggage, trace
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    DEFAULT_OFF,
    DEFAULT_ON,
    ParentBased,
    ParentBasedTraceIdRatio,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags, TraceState
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

import azora_otel
from azora_otel._sampling import compile_sampler
from azora_otel.testing import capture

SDK_SAMPLERS = [
    ALWAYS_ON,
    ALWAYS_OFF,
    DEFAULT_ON,
    DEFAULT_OFF,
    TraceIdRatioBased(0.25),
    ParentBasedTraceIdRatio(0.01),
    ParentBasedTraceIdRatio(1.0),
    ParentBased(TraceIdRatioBased(0.5), remote_parent_not_sampled=ALWAYS_ON),
]


@settings(max_examples=300, deadline=None)
@given(
    which=st.integers(min_value=0, max_value=len(SDK_SAMPLERS) - 1),
    trace_id=st.integers(min_value=1, max_value=2**128 - 1),
    parent=st.one_of(
        st.none(),
        st.tuples(st.booleans(), st.booleans()),  # (remote, sampled)
    ),
)
def test_compiled_decision_equals_the_sdk_sampler(
    which: int, trace_id: int, parent: tuple[bool, bool] | None
) -> None:
    sampler = SDK_SAMPLERS[which]
    decide = compile_sampler(sampler)
    assert decide is not None
    context = None
    span_context = None
    if parent is not None:
        remote, sampled = parent
        span_context = SpanContext(trace_id, 0xBEEF, remote, TraceFlags(1 if sampled else 0))
        context = trace.set_span_in_context(NonRecordingSpan(span_context))
    expected = sampler.should_sample(context, trace_id, "n", SpanKind.SERVER)
    assert decide(span_context, trace_id) == expected.decision.is_sampled()


class _ByName(Sampler):
    def should_sample(self, *args: Any, **kwargs: Any) -> SamplingResult:
        return ALWAYS_ON.should_sample(*args, **kwargs)

    def get_description(self) -> str:
        return "by name"


class _SubclassedRatio(TraceIdRatioBased):
    def should_sample(self, *args: Any, **kwargs: Any) -> SamplingResult:
        return ALWAYS_ON.should_sample(*args, **kwargs)


@pytest.mark.parametrize("sampler", [_ByName(), _SubclassedRatio(0.1), ParentBased(root=_ByName())])
def test_samplers_that_may_look_at_anything_else_get_no_gate(sampler: Sampler) -> None:
    assert compile_sampler(sampler) is None


def _app(cap: Any, seen: list[dict[str, Any]]) -> FastAPI:
    app = FastAPI()
    engine = sa.create_engine("sqlite://")
    azora_otel.instrument_engine(engine, cap.telemetry)

    @app.get("/orders/{order_id}")
    def order(order_id: int) -> dict[str, int]:
        with engine.connect() as conn:
            conn.execute(sa.text("select 1")).all()
        carrier: dict[str, str] = {}
        TraceContextTextMapPropagator().inject(carrier)  # what an outgoing call would send
        seen.append({"traceparent": carrier.get("traceparent"), "baggage": baggage.get_all()})
        return {"id": order_id}

    return app


def _run(env: dict[str, str], sampler: Sampler, headers: list[dict[str, str]]) -> Any:
    seen: list[dict[str, Any]] = []
    with capture(env, sampler=sampler) as cap:
        app = _app(cap, seen)
        azora_otel.instrument_app(app, cap.telemetry)

        async def traffic() -> None:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                for h in headers:
                    assert (await client.get("/orders/7", headers=h)).status_code == 200

        asyncio.run(traffic())
        counted = cap.value("http_requests_total"), cap.value("db_queries_total")
        return cap.spans(), seen, counted


def test_always_off_no_span_metrics_complete() -> None:
    spans, seen, counted = _run({}, ALWAYS_OFF, [{}] * 20)
    assert spans == ()
    assert counted == (20, 20)
    # The request still has a trace id (a non-recording span), propagated as not sampled.
    parents = {s["traceparent"] for s in seen}
    assert len(parents) == 20
    assert all(p is not None and p.endswith("-02") for p in parents)  # random-trace-id flag only


def test_ratio_sampled_requests_carry_their_query_spans_and_consistent_ids() -> None:
    random.seed(7)
    sampler = ParentBasedTraceIdRatio(0.5)
    spans, seen, counted = _run({}, sampler, [{}] * 200)
    assert counted == (200, 200)
    servers = [s for s in spans if s.kind is SpanKind.SERVER]
    clients = [s for s in spans if s.kind is SpanKind.CLIENT]
    # Half of the requests, not a quarter: the SDK decides again on the very id the gate
    # decided on (200 draws: 5.7 standard deviations from either bound).
    assert 60 < len(servers) < 140
    # Every sampled trace id is one the ratio sampler itself samples, and every query
    # span is the child of a sampled request.
    bound = TraceIdRatioBased.get_bound_for_rate(0.5)
    assert all(s.context.trace_id & (2**64 - 1) < bound for s in servers)
    server_ids = {s.context.span_id for s in servers}
    assert len(clients) == len(servers)
    assert all(c.parent is not None and c.parent.span_id in server_ids for c in clients)
    sampled_flags = [s["traceparent"][-2:] for s in seen]
    assert sampled_flags.count("03") == len(servers)


@pytest.mark.parametrize("gate", ["true", "false"])
def test_propagated_parent_decides_as_without_the_gate(gate: str) -> None:
    trace_id = 0x0AF7651916CD43DD8448EB211C80319C
    not_sampled = f"00-{trace_id:032x}-b7ad6b7169203331-00"
    sampled = f"00-{trace_id:032x}-b7ad6b7169203331-01"
    headers = [
        {"traceparent": not_sampled, "tracestate": "vendor=1", "baggage": "user=ada"},
        {"traceparent": sampled},
    ]
    spans, seen, counted = _run({"AZORA_SAMPLING_GATE": gate}, DEFAULT_ON, headers)
    assert counted == (2, 2)
    # The unsampled parent: no span at all, the trace continues with flags 00, baggage kept.
    first = seen[0]
    assert first["traceparent"].startswith(f"00-{trace_id:032x}-")
    assert first["traceparent"].endswith("-00")
    assert first["traceparent"] != not_sampled  # a span id of its own, as the SDK gives it
    assert dict(first["baggage"]) == {"user": "ada"}
    # The sampled parent: server span under the remote parent, the query span under it.
    assert {s.kind for s in spans} == {SpanKind.SERVER, SpanKind.CLIENT}
    server = next(s for s in spans if s.kind is SpanKind.SERVER)
    assert server.parent is not None
    assert server.parent.is_remote
    assert server.context.trace_id == trace_id


def test_gate_switched_off_gives_the_same_picture_for_always_off() -> None:
    with_gate = _run({}, ALWAYS_OFF, [{}] * 5)
    without = _run({"AZORA_SAMPLING_GATE": "false"}, ALWAYS_OFF, [{}] * 5)
    assert with_gate[0] == without[0] == ()
    assert with_gate[2] == without[2] == (5, 5)
    assert {s["traceparent"][-2:] for s in with_gate[1]} == {
        s["traceparent"][-2:] for s in without[1]
    }


def test_root_queries_outside_requests_follow_the_ratio() -> None:
    random.seed(11)
    with capture({}, sampler=ParentBasedTraceIdRatio(0.5)) as cap:
        engine = sa.create_engine("sqlite://")
        azora_otel.instrument_engine(engine, cap.telemetry)
        with engine.connect() as conn:
            for _ in range(200):
                conn.execute(sa.text("select 1")).all()
        spans = cap.spans()
        assert cap.value("db_queries_total") == 200
    assert 60 < len(spans) < 140
    bound = TraceIdRatioBased.get_bound_for_rate(0.5)
    assert all(s.parent is None for s in spans)
    assert all(s.context.trace_id & (2**64 - 1) < bound for s in spans)


def test_dropped_span_context_matches_the_sdk() -> None:
    """The non-recording span the gate attaches equals, but for its random span id, the
    one the SDK's start_span returns for the same parent, trace id and sampler."""
    from opentelemetry.sdk.trace import TracerProvider

    from azora_otel._sampling import HandoffIdGenerator, SamplingGate, handoff

    parent = SpanContext(
        0x1234, 0x99, True, TraceFlags(TraceFlags.RANDOM_TRACE_ID), TraceState([("k", "v")])
    )
    provider = TracerProvider(sampler=ALWAYS_OFF, id_generator=HandoffIdGenerator())
    tracer = provider.get_tracer("t")
    for parent_context, expected_parent in (
        (trace.set_span_in_context(NonRecordingSpan(parent)), parent),
        (None, None),
    ):
        with handoff(0x77):
            sdk = tracer.start_span("x", context=parent_context).get_span_context()
        ours = SamplingGate.dropped_span(
            expected_parent, sdk.trace_id if expected_parent is None else parent.trace_id
        ).get_span_context()
        assert (ours.trace_id, ours.trace_flags, ours.trace_state, ours.is_remote) == (
            sdk.trace_id,
            sdk.trace_flags,
            sdk.trace_state,
            sdk.is_remote,
        )
