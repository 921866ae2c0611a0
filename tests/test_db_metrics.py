"""DB metrics on SQLite (sync and async via aiosqlite), recorded into an in-memory distro.

The statement mix and its expected series are reused by ``test_db_postgres.py``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import SpanKind, StatusCode
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

import azora_otel
from azora_otel import _sqlalchemy, db_query, instrument_engine, track_db_query
from azora_otel.testing import Capture, capture, installed

# Far from normal latencies on a busy machine: an ordinary statement takes well under a
# millisecond, yet a loaded machine can stall one for tens; a slow one sleeps past 500 ms.
THRESHOLD_MS = 500
SLOW_S = 0.6
SECRET = "s3cr3t-Parameter-Value"
ENV = {"PERF_DB_QUERY_MS": str(THRESHOLD_MS)}

Key = tuple[str, str, str]


@dataclass(frozen=True)
class Step:
    """One statement, how often it runs, and the series it must land in."""

    sql: str
    labels: tuple[str, str]
    params: Any = None
    repeat: int = 1
    fails: bool = False
    slow: bool = False


@dataclass
class Expected:
    queries: Counter[Key] = field(default_factory=Counter)
    slow: Counter[tuple[str, str]] = field(default_factory=Counter)

    @property
    def durations(self) -> Counter[tuple[str, str]]:
        out: Counter[tuple[str, str]] = Counter()
        for (op, model, _), n in self.queries.items():
            out[op, model] += n
        return out

    @property
    def total(self) -> int:
        return sum(self.queries.values())


def mix(slow_sql: str, slow_params: dict[str, Any]) -> list[Step]:
    """A known mix of statements; ``slow_sql`` really takes longer than the threshold."""
    rows = [{"id": i, "total": 10 * i, "note": f"{SECRET}-{i}"} for i in range(1, 4)]
    insert_order = "insert into orders (id, total, note) values (:id, :total, :note)"
    return [
        Step(
            "create table orders (id integer primary key, total integer, note varchar(64))",
            ("create", "orders"),
        ),
        Step(
            "create table items (id integer primary key, order_id integer, sku varchar(64))",
            ("create", "items"),
        ),
        Step(insert_order, ("insert", "orders"), rows),  # executemany: one statement
        Step(insert_order, ("insert", "orders"), {"id": 4, "total": 40, "note": SECRET}),
        Step(
            "insert into items (id, order_id, sku) values (:id, :order_id, :sku)",
            ("insert", "items"),
            [{"id": i, "order_id": 1 + i % 3, "sku": f"{SECRET}-sku{i}"} for i in range(6)],
        ),
        Step(
            "select orders.id, items.sku from orders join items on items.order_id = orders.id "
            "where orders.note = :note",
            ("select", "orders"),
            {"note": SECRET},
            repeat=3,
        ),
        Step(
            "with big as (select * from orders where total > :t) select count(*) from big",
            ("select", "orders"),
            {"t": 5},
        ),
        Step(
            "update orders set total = total + 1 where note = :note",
            ("update", "orders"),
            {"note": SECRET},
            repeat=2,
        ),
        Step("delete from items where sku = :sku", ("delete", "items"), {"sku": SECRET}),
        Step("select 1", ("select", "unknown")),
        Step(
            "select * from missing_table where note = :note",
            ("select", "missing_table"),
            {"note": SECRET},
            repeat=2,
            fails=True,
        ),
        Step(
            insert_order, ("insert", "orders"), {"id": 1, "total": 0, "note": SECRET}, fails=True
        ),  # duplicate primary key
        Step(slow_sql, ("select", "orders"), {**slow_params, "note": SECRET}, slow=True),
    ]


def expected(steps: list[Step]) -> Expected:
    out = Expected()
    for step in steps:
        op, model = step.labels
        out.queries[op, model, "error" if step.fails else "success"] += step.repeat
        if step.slow:
            out.slow[op, model] += step.repeat
    return out


def run_sync(engine: sa.Engine, steps: list[Step]) -> None:
    for step in steps:
        for _ in range(step.repeat):
            try:
                with engine.begin() as conn:
                    conn.execute(sa.text(step.sql), step.params)
            except sa.exc.DBAPIError:
                assert step.fails, step.sql
            else:
                assert not step.fails, step.sql


async def run_async(engine: AsyncEngine, steps: list[Step]) -> None:
    for step in steps:
        for _ in range(step.repeat):
            try:
                async with engine.begin() as conn:
                    await conn.execute(sa.text(step.sql), step.params)
            except sa.exc.DBAPIError:
                assert step.fails, step.sql
            else:
                assert not step.fails, step.sql


def series(cap: Capture, name: str) -> dict[tuple[str, ...], float]:
    """Every data point of ``name`` by its sorted label values (counts for histograms)."""
    out: dict[tuple[str, ...], float] = {}
    for point in cap.points(name):
        key = tuple(str(point.attributes[k]) for k in sorted(point.attributes))
        out[key] = getattr(point, "count", None) or point.value
    return out


def assert_matches(cap: Capture, exp: Expected) -> None:
    # sorted label keys: (model, operation, status) and (model, operation)
    assert series(cap, "db_queries_total") == {
        (model, op, status): n for (op, model, status), n in exp.queries.items()
    }
    assert series(cap, "db_query_duration_ms") == {
        (model, op): n for (op, model), n in exp.durations.items()
    }
    assert series(cap, "slow_queries_total") == {
        (model, op): n for (op, model), n in exp.slow.items()
    }
    assert cap.telemetry.queries.total == exp.total
    assert cap.telemetry.queries.slow == sum(exp.slow.values())


def _sleep_ms(ms: float) -> float:
    time.sleep(ms / 1000.0)
    return ms


def add_sqlite_sleep(engine: sa.Engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.create_function("sleep_ms", 1, _sleep_ms)


SQLITE_SLOW = "select sleep_ms(:ms), note = :note from orders where id = 1"
SQLITE_STEPS = mix(SQLITE_SLOW, {"ms": SLOW_S * 1000})


class SpanCounter(SpanProcessor):
    def __init__(self) -> None:
        self.started = 0
        self.ended = 0

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        self.started += 1

    def on_end(self, span: ReadableSpan) -> None:
        self.ended += 1


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
def records() -> Iterator[list[logging.LogRecord]]:
    """Every record of the ``azora_otel`` logger, whatever handlers other tests installed."""
    got: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            got.append(record)

    logger = logging.getLogger("azora_otel")
    handler = Keep(logging.DEBUG)
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield got
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


def sync_engine(url: str, cap: Capture) -> sa.Engine:
    engine = sa.create_engine(url)
    add_sqlite_sleep(engine)
    instrument_engine(engine, cap.telemetry)
    return engine


def async_engine(url: str, cap: Capture) -> AsyncEngine:
    engine = create_async_engine(url.replace("sqlite://", "sqlite+aiosqlite://"))
    add_sqlite_sleep(engine.sync_engine)
    instrument_engine(engine, cap.telemetry)
    return engine


def run_async_mix(engine: AsyncEngine, steps: list[Step]) -> None:
    async def go() -> None:
        try:
            await run_async(engine, steps)
        finally:
            await engine.dispose()

    asyncio.run(go())


# --- the mix: exact counts, sync and async -------------------------------------------


def test_sync_mix_exact_counts(db_url: str) -> None:
    with capture(ENV) as cap:
        engine = sync_engine(db_url, cap)
        try:
            run_sync(engine, SQLITE_STEPS)
        finally:
            engine.dispose()
        assert_matches(cap, expected(SQLITE_STEPS))


def test_async_mix_exact_counts(db_url: str) -> None:
    with capture(ENV) as cap:
        run_async_mix(async_engine(db_url, cap), SQLITE_STEPS)
        assert_matches(cap, expected(SQLITE_STEPS))


def test_exposition_lists_the_contract_series(db_url: str) -> None:
    with capture(ENV) as cap:
        engine = sync_engine(db_url, cap)
        try:
            run_sync(engine, SQLITE_STEPS)
        finally:
            engine.dispose()
        text = cap.exposition()
    assert 'db_queries_total{model="orders",operation="select",status="success"} 5.0' in text
    assert 'db_queries_total{model="missing_table",operation="select",status="error"} 2.0' in text
    assert 'slow_queries_total{model="orders",operation="select"} 1.0' in text
    assert 'db_query_duration_ms_bucket{le="5",model="orders",operation="create"}' in text
    assert "_milliseconds" not in text


# --- failing statements --------------------------------------------------------------


def test_error_reaches_the_app_unchanged(db_url: str) -> None:
    def failure(engine: sa.Engine) -> tuple[type[BaseException], str, type[BaseException]]:
        with pytest.raises(sa.exc.OperationalError) as info, engine.connect() as conn:
            conn.execute(sa.text("select * from missing_table where x = :x"), {"x": 1})
        return type(info.value), str(info.value), type(info.value.orig)

    plain = sa.create_engine(db_url)
    try:
        baseline = failure(plain)
    finally:
        plain.dispose()
    with capture(ENV) as cap:
        engine = sync_engine(db_url, cap)
        try:
            assert failure(engine) == baseline
        finally:
            engine.dispose()
        assert (
            cap.value("db_queries_total", operation="select", model="missing_table", status="error")
            == 1
        )
        (span,) = cap.spans()
        assert span.status.status_code is StatusCode.ERROR
        assert span.attributes is not None
        assert span.attributes["error.type"] == "OperationalError"


def test_async_failures_are_counted(db_url: str) -> None:
    async def go(engine: AsyncEngine) -> None:
        try:
            for _ in range(3):
                with pytest.raises(sa.exc.OperationalError):
                    async with engine.connect() as conn:
                        await conn.execute(sa.text("delete from nowhere"))
        finally:
            await engine.dispose()

    with capture(ENV) as cap:
        asyncio.run(go(async_engine(db_url, cap)))
        assert (
            cap.value("db_queries_total", operation="delete", model="nowhere", status="error") == 3
        )
        assert cap.value("db_queries_total", status="success") == 0


def test_a_failing_recorder_never_breaks_queries(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with capture(ENV) as cap:

        def boom(*_args: Any, **_kwargs: Any) -> None:
            raise RuntimeError("recorder broken")

        monkeypatch.setattr(cap.telemetry.queries, "record", boom)
        engine = sync_engine(db_url, cap)
        try:
            with engine.connect() as conn:
                assert conn.execute(sa.text("select 41 + 1")).scalar() == 42
        finally:
            engine.dispose()
        assert len(cap.spans()) == 1  # the span is still ended


# --- slow queries --------------------------------------------------------------------


def test_slow_query_record(db_url: str, records: list[logging.LogRecord]) -> None:
    with capture(ENV) as cap:
        engine = sync_engine(db_url, cap)
        try:
            run_sync(engine, SQLITE_STEPS[:4])
            with engine.connect() as conn:
                conn.execute(sa.text(SQLITE_SLOW), {"ms": SLOW_S * 1000, "note": SECRET})
        finally:
            engine.dispose()
        slow = [r for r in records if getattr(r, "azora", {}).get("event") == "slow_query"]
        assert len(slow) == 1
        fields = slow[0].azora  # type: ignore[attr-defined]
        span = cap.spans()[-1]
        assert fields["operation"] == "select"
        assert fields["model"] == "orders"
        assert fields["status"] == "success"
        assert fields["duration_ms"] >= SLOW_S * 1000
        assert fields["threshold_ms"] == THRESHOLD_MS
        assert fields["statement"] == SQLITE_SLOW.replace(":ms", "?").replace(":note", "?")
        assert fields["trace_id"] == format(span.context.trace_id, "032x")
        assert fields["span_id"] == format(span.context.span_id, "016x")


def test_slow_statement_text_is_truncated(records: list[logging.LogRecord]) -> None:
    with capture(ENV) as cap:
        long_statement = "select " + ", ".join(f"col_{i}" for i in range(1000)) + " from t"
        cap.telemetry.queries.record("select", "t", THRESHOLD_MS + 1, "success", long_statement)
    (record,) = [r for r in records if getattr(r, "azora", {}).get("event") == "slow_query"]
    statement = record.azora["statement"]  # type: ignore[attr-defined]
    assert len(statement) == 1024
    assert statement.endswith("...[truncated]")


# --- parameter values never leave the driver -----------------------------------------


def test_parameter_values_absent_from_labels_logs_spans(
    db_url: str, records: list[logging.LogRecord]
) -> None:
    with capture(ENV) as cap:
        engine = sync_engine(db_url, cap)
        try:
            run_sync(engine, SQLITE_STEPS)
        finally:
            engine.dispose()
        run_async_mix(async_engine(db_url.replace("test.db", "test2.db"), cap), SQLITE_STEPS)
        exposition = cap.exposition()
        spans = cap.spans()
    assert records, "the slow queries were logged"
    assert spans
    assert SECRET not in exposition
    for record in records:
        assert SECRET not in record.getMessage()
        assert SECRET not in repr(getattr(record, "azora", {}))
    for span in spans:
        assert SECRET not in span.to_json()


# --- sampling and metrics-only mode ---------------------------------------------------


def test_sampling_off_still_counts_everything(db_url: str) -> None:
    with capture(ENV, sampler=ALWAYS_OFF) as cap:
        engine = sync_engine(db_url, cap)
        try:
            run_sync(engine, SQLITE_STEPS)
        finally:
            engine.dispose()
        run_async_mix(async_engine(db_url.replace("test.db", "test2.db"), cap), SQLITE_STEPS)
        exp = expected(SQLITE_STEPS)
        exp.queries = exp.queries + exp.queries
        exp.slow = exp.slow + exp.slow
        assert_matches(cap, exp)
        assert cap.spans() == ()


def test_metrics_only_creates_no_span(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[str] = []
    real = _sqlalchemy._start_span

    def spy(*args: Any, **kwargs: Any) -> Any:
        started.append(args[2])
        return real(*args, **kwargs)

    monkeypatch.setattr(_sqlalchemy, "_start_span", spy)
    with capture(ENV, tracing=False) as cap:
        assert cap.telemetry.tracer_provider is None
        engine = sync_engine(db_url, cap)
        try:
            run_sync(engine, SQLITE_STEPS)
        finally:
            engine.dispose()
        run_async_mix(async_engine(db_url.replace("test.db", "test2.db"), cap), SQLITE_STEPS)
        assert cap.telemetry.queries.total == 2 * expected(SQLITE_STEPS).total
    assert started == []


# --- spans -----------------------------------------------------------------------------


def test_every_started_span_is_ended(db_url: str) -> None:
    with capture(ENV) as cap:
        assert cap.telemetry.tracer_provider is not None
        counter = SpanCounter()
        cap.telemetry.tracer_provider.add_span_processor(counter)
        engine = sync_engine(db_url, cap)
        try:
            run_sync(engine, SQLITE_STEPS)
        finally:
            engine.dispose()
        run_async_mix(async_engine(db_url.replace("test.db", "test2.db"), cap), SQLITE_STEPS)
        statements = 2 * expected(SQLITE_STEPS).total
        assert counter.started == statements
        assert counter.ended == statements
        assert len(cap.spans()) == statements


def test_span_shape(tmp_path: Path) -> None:
    with capture(ENV) as cap:
        engine = sync_engine(f"sqlite:///{tmp_path / 'shop.db'}", cap)
        try:
            with engine.begin() as conn:
                conn.execute(sa.text("create table orders (id integer primary key)"))
                conn.execute(sa.text("select id from orders where id = :id"), {"id": 7})
        finally:
            engine.dispose()
        create, select = cap.spans()
    assert select.kind is SpanKind.CLIENT
    assert select.name == "select orders"
    assert select.instrumentation_scope is not None
    assert select.instrumentation_scope.name == "azora_otel.sqlalchemy"
    assert dict(select.attributes or {}) == {
        "db.system": "sqlite",
        "db.name": "shop.db",
        "db.statement": "select id from orders where id = ?",
        "db.operation": "select",
        "db.sql.table": "orders",
    }
    assert create.name == "create orders"
    assert create.attributes is not None
    assert create.attributes["db.operation"] == "create"
    assert create.attributes["db.sql.table"] == "orders"


def test_db_span_is_child_of_the_current_span(db_url: str) -> None:
    with capture(ENV) as cap:
        assert cap.telemetry.tracer_provider is not None
        tracer = cap.telemetry.tracer_provider.get_tracer("test")
        engine = sync_engine(db_url, cap)
        try:
            with tracer.start_as_current_span("request") as parent, engine.connect() as conn:
                conn.execute(sa.text("select 1"))
        finally:
            engine.dispose()
        db_span = next(s for s in cap.spans() if s.name != "request")
    assert db_span.parent is not None
    assert db_span.parent.span_id == parent.get_span_context().span_id


# --- coverage: every engine, explicit calls, no double counting --------------------------


@pytest.fixture
def process_wide() -> Iterator[Capture]:
    """A capture installed as the process-wide distro, engine hooks on."""
    with capture(ENV) as cap, installed(cap.telemetry, auto_instrument=True):
        yield cap


def test_hooks_cover_every_engine_sync_and_async(process_wide: Capture, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hooks.db'}"
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("create table t (id integer)"))
            conn.execute(sa.text("insert into t values (1)"))
    finally:
        engine.dispose()

    async def go() -> None:
        aengine = create_async_engine(url.replace("sqlite://", "sqlite+aiosqlite://"))
        try:
            async with aengine.connect() as conn:
                await conn.execute(sa.text("select * from t"))
                await conn.execute(sa.text("select * from t"))
        finally:
            await aengine.dispose()

    asyncio.run(go())
    assert series(process_wide, "db_queries_total") == {
        ("t", "create", "success"): 1,
        ("t", "insert", "success"): 1,
        ("t", "select", "success"): 2,
    }


def test_hooks_cover_engines_created_before_them(db_url: str) -> None:
    engine = sa.create_engine(db_url)
    try:
        with capture(ENV) as cap:
            with installed(cap.telemetry, auto_instrument=True), engine.connect() as conn:
                conn.execute(sa.text("select 1"))
            assert cap.telemetry.queries.total == 1
    finally:
        engine.dispose()


def test_hooks_and_explicit_call_count_once(process_wide: Capture, db_url: str) -> None:
    engine = sa.create_engine(db_url)
    instrument_engine(engine)
    instrument_engine(engine)  # idempotent
    try:
        with engine.connect() as conn:
            for _ in range(3):
                conn.execute(sa.text("select 1"))
    finally:
        engine.dispose()
    assert process_wide.telemetry.queries.total == 3
    assert len(process_wide.spans()) == 3


def test_explicit_binding_wins_over_the_process_wide_distro(
    process_wide: Capture, db_url: str
) -> None:
    with capture(ENV) as own:
        engine = instrument_engine(sa.create_engine(db_url), own.telemetry)
        try:
            with engine.connect() as conn:
                conn.execute(sa.text("select 1"))
        finally:
            engine.dispose()
        assert own.telemetry.queries.total == 1
    assert process_wide.telemetry.queries.total == 0


def test_unconfigured_process_records_nothing(db_url: str) -> None:
    engine = instrument_engine(sa.create_engine(db_url))
    try:
        with installed(None), engine.connect() as conn:
            assert conn.execute(sa.text("select 1")).scalar() == 1
    finally:
        _sqlalchemy.uninstrument_engine(engine)
        engine.dispose()


def test_instrument_engine_rejects_other_objects() -> None:
    with pytest.raises(TypeError, match="Engine"):
        instrument_engine(object())


E2E_SCRIPT = """
import asyncio, sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine
import azora_otel
url = {url!r}
engine = sa.create_engine(url)
with engine.begin() as conn:
    conn.execute(sa.text("create table orders (id integer)"))
    conn.execute(sa.text("insert into orders values (1)"))
engine.dispose()
async def main():
    aengine = create_async_engine(url.replace("sqlite://", "sqlite+aiosqlite://"))
    async with aengine.connect() as conn:
        await conn.execute(sa.text("select * from orders"))
    await aengine.dispose()
asyncio.run(main())
print(azora_otel.get_metrics())
"""


@pytest.mark.e2e
def test_launcher_instruments_engines_created_after_boot(tmp_path: Path) -> None:
    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent(E2E_SCRIPT.format(url=f"sqlite:///{tmp_path / 'e2e.db'}")))
    launcher = Path(sys.executable).with_name("azora-otel-instrument")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AZORA_", "PERF_"))}
    env["AZORA_LOG_FORMAT"] = "off"
    done = subprocess.run(
        [str(launcher), sys.executable, str(script)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for line in (
        'db_queries_total{model="orders",operation="create",status="success"} 1.0',
        'db_queries_total{model="orders",operation="insert",status="success"} 1.0',
        'db_queries_total{model="orders",operation="select",status="success"} 1.0',
    ):
        assert line in done.stdout


# --- the manual API ----------------------------------------------------------------------


def test_track_db_query(cap_env: Capture) -> None:
    t = cap_env.telemetry
    track_db_query("select", "users", 3.0, telemetry=t)
    track_db_query("SELECT", "Users", 7.0, "success", telemetry=t)
    track_db_query("find", "users", 1.0, "error", telemetry=t)
    track_db_query("insert", "", THRESHOLD_MS + 50.0, "weird", telemetry=t)
    track_db_query("select", "users", float("nan"), telemetry=t)  # ignored
    track_db_query("select", "users", -5.0, telemetry=t)  # clamped to 0
    assert series(cap_env, "db_queries_total") == {
        ("users", "select", "success"): 3,
        ("users", "other", "error"): 1,
        ("unknown", "insert", "error"): 1,
    }
    assert series(cap_env, "slow_queries_total") == {("unknown", "insert"): 1}


def test_track_db_query_uses_the_process_wide_distro(cap_env: Capture) -> None:
    with installed(cap_env.telemetry):
        azora_otel.track_db_query("delete", "sessions", 2.0)
    assert cap_env.value("db_queries_total", operation="delete", model="sessions") == 1


def test_manual_api_without_distro_is_a_no_op() -> None:
    with installed(None):
        track_db_query("select", "users", 1.0)
        with db_query("select", "users"):
            pass


def test_db_query_context_manager(cap_env: Capture) -> None:
    t = cap_env.telemetry
    with db_query("select", "users", telemetry=t):
        pass
    with pytest.raises(KeyError), db_query("select", "users", telemetry=t):
        raise KeyError("gone")
    slow = db_query("update", "users", telemetry=t)
    with slow:
        time.sleep(SLOW_S)
    assert series(cap_env, "db_queries_total") == {
        ("users", "select", "success"): 1,
        ("users", "select", "error"): 1,
        ("users", "update", "success"): 1,
    }
    assert series(cap_env, "slow_queries_total") == {("users", "update"): 1}
    (point,) = [
        p for p in cap_env.points("db_query_duration_ms") if p.attributes["operation"] == "update"
    ]
    assert point.sum >= SLOW_S * 1000


def test_db_query_decorator_sync_and_async(cap_env: Capture) -> None:
    t = cap_env.telemetry

    @db_query("select", "users", telemetry=t)
    def get_user(user_id: int) -> dict[str, int]:
        if user_id < 0:
            raise ValueError(user_id)
        return {"id": user_id}

    @db_query("insert", "events", telemetry=t)
    async def save(fail: bool) -> str:
        await asyncio.sleep(0)
        if fail:
            raise ConnectionError("down")
        return "ok"

    assert get_user(1) == {"id": 1}
    assert get_user.__name__ == "get_user"
    with pytest.raises(ValueError, match="-1"):
        get_user(-1)
    assert asyncio.run(save(False)) == "ok"
    with pytest.raises(ConnectionError):
        asyncio.run(save(True))

    async def nested() -> None:
        async with db_query("select", "events", telemetry=t):
            await asyncio.sleep(0)

    asyncio.run(nested())
    assert series(cap_env, "db_queries_total") == {
        ("users", "select", "success"): 1,
        ("users", "select", "error"): 1,
        ("events", "insert", "success"): 1,
        ("events", "insert", "error"): 1,
        ("events", "select", "success"): 1,
    }


def test_public_api() -> None:
    for name in ("track_db_query", "db_query", "instrument_engine"):
        assert name in azora_otel.__all__
        assert callable(getattr(azora_otel, name))


@pytest.fixture
def cap_env() -> Iterator[Capture]:
    with capture(ENV) as c:
        yield c
