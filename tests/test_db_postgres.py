"""DB metrics against a real PostgreSQL: psycopg (sync) and asyncpg (async).

The server comes from ``tests/_fixtures_postgres.py``; without one these tests fail.
The exposition is parsed with prometheus_client's parser and compared with the
series computed from the statement mix (``test_db_metrics.mix``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import create_async_engine
from test_db_metrics import (
    ENV,
    SECRET,
    SLOW_S,
    THRESHOLD_MS,
    Expected,
    SpanCounter,
    assert_matches,
    expected,
    mix,
    run_async,
    run_sync,
)

from azora_otel import instrument_engine
from azora_otel.testing import Capture, capture

pytestmark = pytest.mark.postgres

PG_SLOW = "select pg_sleep(:s), note = :note from orders where id = 1"
PG_STEPS = mix(PG_SLOW, {"s": SLOW_S})
BUCKETS = ("5", "10", "25", "50", "100", "250", "500", "1000", "+Inf")


@pytest.fixture
def pg(postgres_url: Any) -> Iterator[Any]:
    """The URL builder, with the mix's tables dropped before and after each test."""

    def clean() -> None:
        engine = sa.create_engine(postgres_url("psycopg"))
        try:
            with engine.begin() as conn:
                conn.execute(sa.text("drop table if exists orders, items, accounts"))
        finally:
            engine.dispose()

    clean()
    yield postgres_url
    clean()


def db_samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """The exposition's db series: (sample name, labels) -> value."""
    out: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    types: dict[str, str] = {}
    for family in text_string_to_metric_families(text):
        if not family.name.startswith(("db_", "slow_queries")):
            continue
        types[family.name] = family.type
        for sample in family.samples:
            if sample.name.endswith("_created"):
                continue
            out[sample.name, frozenset(sample.labels.items())] = sample.value
    assert types == {
        "db_query_duration_ms": "histogram",
        "db_queries": "counter",
        "slow_queries": "counter",
    }
    return out


def check_exposition(cap: Capture, exp: Expected) -> None:
    """Exact exposition: every db series present, nothing else, values as computed."""
    samples = db_samples(cap.exposition())
    names = {(name, labels) for name, labels in samples}
    want_names: set[tuple[str, frozenset[tuple[str, str]]]] = set()
    for (op, model, status), n in exp.queries.items():
        key = (
            "db_queries_total",
            frozenset({("operation", op), ("model", model), ("status", status)}),
        )
        want_names.add(key)
        assert samples[key] == n
    for (op, model), n in exp.durations.items():
        labels = {("operation", op), ("model", model)}
        slow = exp.slow.get((op, model), 0)
        count_key = ("db_query_duration_ms_count", frozenset(labels))
        sum_key = ("db_query_duration_ms_sum", frozenset(labels))
        want_names |= {count_key, sum_key}
        assert samples[count_key] == n
        assert samples[sum_key] >= slow * SLOW_S * 1000
        previous = 0.0
        for le in BUCKETS:
            key = ("db_query_duration_ms_bucket", frozenset({*labels, ("le", le)}))
            want_names.add(key)
            assert samples[key] >= previous
            previous = samples[key]
        # Every fast statement is in the threshold's bucket (500 ms), every slow one above.
        assert samples["db_query_duration_ms_bucket", frozenset({*labels, ("le", "500")})] == (
            n - slow
        )
        assert previous == n  # +Inf
    for (op, model), n in exp.slow.items():
        key = ("slow_queries_total", frozenset({("operation", op), ("model", model)}))
        want_names.add(key)
        assert samples[key] == n
    assert names == want_names


def test_psycopg_sync_exact_exposition(pg: Any) -> None:
    with capture(ENV) as cap:
        assert cap.telemetry.tracer_provider is not None
        counter = SpanCounter()
        cap.telemetry.tracer_provider.add_span_processor(counter)
        engine = instrument_engine(sa.create_engine(pg("psycopg")), cap.telemetry)
        try:
            run_sync(engine, PG_STEPS)
        finally:
            engine.dispose()
        exp = expected(PG_STEPS)
        assert_matches(cap, exp)
        check_exposition(cap, exp)
        assert counter.started == counter.ended == exp.total
        span = next(
            s for s in cap.spans() if s.attributes and s.attributes.get("db.operation") == "update"
        )
        assert span.name == "update orders"
        attributes = dict(span.attributes or {})
        assert isinstance(attributes.pop("net.peer.port"), int)
        assert attributes == {
            "db.system": "postgresql",
            "db.name": "azora_test",
            "net.peer.name": "127.0.0.1",
            "db.statement": "update orders set total = total + 1 where note = %(note)s",
            "db.operation": "update",
            "db.sql.table": "orders",
        }


def test_asyncpg_async_exact_exposition(pg: Any) -> None:
    async def go(cap: Capture) -> None:
        engine = create_async_engine(pg("asyncpg"))
        instrument_engine(engine, cap.telemetry)
        try:
            await run_async(engine, PG_STEPS)
        finally:
            await engine.dispose()

    with capture(ENV) as cap:
        assert cap.telemetry.tracer_provider is not None
        counter = SpanCounter()
        cap.telemetry.tracer_provider.add_span_processor(counter)
        asyncio.run(go(cap))
        exp = expected(PG_STEPS)
        assert_matches(cap, exp)
        check_exposition(cap, exp)
        assert counter.started == counter.ended == exp.total
        statements = {s.attributes["db.statement"] for s in cap.spans() if s.attributes}
        assert "update orders set total = total + 1 where note = $1" in statements


def test_stable_semconv_attributes_on_postgresql(pg: Any) -> None:
    """``OTEL_SEMCONV_STABILITY_OPT_IN=database``: the stable names, server included."""
    with capture({**ENV, "OTEL_SEMCONV_STABILITY_OPT_IN": "database"}) as cap:
        engine = instrument_engine(sa.create_engine(pg("psycopg")), cap.telemetry)
        try:
            with engine.begin() as conn:
                conn.execute(sa.text("create temporary table t_semconv (a int)"))
                conn.execute(sa.text("select a from t_semconv where a = :a"), {"a": 1})
        finally:
            engine.dispose()
        create, select = (s for s in cap.spans() if "t_semconv" in s.name)
    assert (create.name, select.name) == ("create t_semconv", "select t_semconv")
    attributes = dict(select.attributes or {})
    assert isinstance(attributes.pop("server.port"), int)
    assert attributes == {
        "db.system.name": "postgresql",
        "db.namespace": "azora_test",
        "server.address": "127.0.0.1",
        "db.query.text": "select a from t_semconv where a = %(a)s",
        "db.operation.name": "select",
        "db.collection.name": "t_semconv",
    }


def test_asyncpg_sampling_off_counts_everything(pg: Any) -> None:
    async def go(cap: Capture) -> None:
        engine = create_async_engine(pg("asyncpg"))
        instrument_engine(engine, cap.telemetry)
        try:
            await run_async(engine, PG_STEPS)
        finally:
            await engine.dispose()

    with capture(ENV, sampler=ALWAYS_OFF) as cap:
        asyncio.run(go(cap))
        assert_matches(cap, expected(PG_STEPS))
        assert cap.spans() == ()


@pytest.mark.parametrize("driver", ["psycopg", "asyncpg"])
def test_values_in_driver_errors_stay_out(
    pg: Any, driver: str, caplog: pytest.LogCaptureFixture
) -> None:
    """PostgreSQL quotes the offending value in a unique violation; spans must not."""
    ddl = "create table accounts (id serial primary key, email varchar(128) unique)"
    insert = "insert into accounts (email) values (:email)"
    messages: list[str] = []

    async def run_async_driver(cap: Capture) -> None:
        engine = create_async_engine(pg(driver))
        instrument_engine(engine, cap.telemetry)
        try:
            async with engine.begin() as conn:
                await conn.execute(sa.text(ddl))
                await conn.execute(sa.text(insert), {"email": SECRET})
            with pytest.raises(sa.exc.IntegrityError) as info:
                async with engine.begin() as conn:
                    await conn.execute(sa.text(insert), {"email": SECRET})
            messages.append(str(info.value))
        finally:
            await engine.dispose()

    with capture({**ENV, "PERF_DB_QUERY_MS": "0.001"}) as cap, caplog.at_level(logging.INFO):
        if driver == "asyncpg":
            asyncio.run(run_async_driver(cap))
        else:
            engine = instrument_engine(sa.create_engine(pg(driver)), cap.telemetry)
            try:
                with engine.begin() as conn:
                    conn.execute(sa.text(ddl))
                    conn.execute(sa.text(insert), {"email": SECRET})
                with pytest.raises(sa.exc.IntegrityError) as info, engine.begin() as conn:
                    conn.execute(sa.text(insert), {"email": SECRET})
                messages.append(str(info.value))
            finally:
                engine.dispose()
        assert SECRET in messages[0]  # the application still gets the full error
        assert (
            cap.value("db_queries_total", operation="insert", model="accounts", status="error") == 1
        )
        assert cap.telemetry.queries.slow >= 3  # every statement was logged as slow
        for span in cap.spans():
            assert SECRET not in span.to_json()
        assert SECRET not in cap.exposition()
    logged = [r for r in caplog.records if r.name == "azora_otel"]
    for record in logged:
        assert SECRET not in repr(getattr(record, "azora", {}))
        assert SECRET not in record.getMessage()


def test_pg_sleep_really_exceeds_the_threshold(pg: Any) -> None:
    with capture(ENV) as cap:
        engine = instrument_engine(sa.create_engine(pg("psycopg")), cap.telemetry)
        try:
            with engine.connect() as conn:
                conn.execute(sa.text("select pg_sleep(:s)"), {"s": SLOW_S})
        finally:
            engine.dispose()
        (point,) = cap.points("db_query_duration_ms")
        assert point.attributes == {"operation": "select", "model": "unknown"}
        assert point.sum >= SLOW_S * 1000  # pg_sleep's own time: never less
        assert point.sum > THRESHOLD_MS
        assert cap.value("slow_queries_total", operation="select", model="unknown") == 1
