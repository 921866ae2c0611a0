"""Database spans: low-cardinality names, no file path anywhere, the attribute sets of
both semantic-convention modes (``OTEL_SEMCONV_STABILITY_OPT_IN``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from opentelemetry.sdk.trace import ReadableSpan

from azora_otel import Settings, instrument_engine
from azora_otel._db_span import DUP, NEW, OLD, database_name, semconv_mode
from azora_otel._sqlalchemy import uninstrument_engine
from azora_otel.testing import capture

# A deployment-like location: the directories must never show up in a span.
DEPLOY_DIR = ("srv", "app-prod-eu1", "data")

OLD_KEYS = {"db.system", "db.name", "db.statement", "db.operation", "db.sql.table"}
NEW_KEYS = {
    "db.system.name",
    "db.namespace",
    "db.query.text",
    "db.operation.name",
    "db.collection.name",
}


def run(
    url: str,
    statements: list[str | tuple[str, tuple[Any, ...]]],
    environ: dict[str, str] | None = None,
) -> list[ReadableSpan]:
    with capture(environ) as cap:
        engine = instrument_engine(sa.create_engine(url), cap.telemetry)
        try:
            with engine.begin() as conn:
                for item in statements:
                    sql, params = item if isinstance(item, tuple) else (item, ())
                    conn.exec_driver_sql(sql, params)
        finally:
            uninstrument_engine(engine)
            engine.dispose()
        return list(cap.spans())


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    directory = tmp_path.joinpath(*DEPLOY_DIR)
    directory.mkdir(parents=True)
    return directory / "app.db"


STATEMENTS = [
    "create table orders (id integer primary key, placed date)",
    "CREATE UNIQUE INDEX ix_orders_placed ON orders (placed)",
    "insert into orders (id, placed) values (1, '2026-01-01')",
    "select extract_year from (select 1 as extract_year)",
    "SELECT id FROM orders WHERE id = 1",
    "update orders set placed = '2026-01-02'",
    "select 1",
    "values (1)",
    "DROP INDEX ix_orders_placed",
]
NAMES = [
    "create orders",
    "create orders",  # the index's table, not the index
    "insert orders",
    "select app.db",  # no table: the database
    "select orders",
    "update orders",
    "select app.db",
    "app.db",  # a verb the distro does not know: the target alone
    "drop app.db",  # which table an index belonged to is not in the statement
]


def test_sqlite_file_spans_are_named_by_operation_and_table(db_file: Path) -> None:
    spans = run(f"sqlite:///{db_file}", STATEMENTS)
    assert [s.name for s in spans] == NAMES
    for span in spans:
        text = json.dumps({"name": span.name, "attributes": dict(span.attributes or {})})
        assert str(db_file.parent) not in text
        assert not any(part in text for part in DEPLOY_DIR), text
        assert (span.attributes or {})["db.name"] == "app.db"


def test_in_memory_database_has_no_name() -> None:
    spans = run("sqlite://", ["create table t (a int)", "select 1", "values (1)"])
    assert [s.name for s in spans] == ["create t", "select", "sqlite"]
    assert all("db.name" not in (s.attributes or {}) for s in spans)


@pytest.mark.parametrize(
    ("opt_in", "keys"),
    [
        (None, OLD_KEYS),
        ("database", NEW_KEYS),
        ("http, database/dup", OLD_KEYS | NEW_KEYS),
        ("database,database/dup", OLD_KEYS | NEW_KEYS),
        ("http", OLD_KEYS),
    ],
)
def test_attribute_sets_by_opt_in(
    opt_in: str | None, keys: set[str], db_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The process environment says the opposite: the distro's settings decide.
    polluted = "http" if keys == OLD_KEYS | NEW_KEYS else "database/dup"
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", polluted)
    environ = {} if opt_in is None else {"OTEL_SEMCONV_STABILITY_OPT_IN": opt_in}
    spans = run(
        f"sqlite:///{db_file}",
        ["create table t (a int)", ("select a from t where a = ?", (1,))],
        environ,
    )
    select = spans[-1]
    assert select.name == "select t"
    attributes: dict[str, Any] = dict(select.attributes or {})
    assert set(attributes) == keys
    expected = {
        "db.system": "sqlite",
        "db.system.name": "sqlite",
        "db.name": "app.db",
        "db.namespace": "app.db",
        "db.statement": "select a from t where a = ?",
        "db.query.text": "select a from t where a = ?",
        "db.operation": "select",
        "db.operation.name": "select",
        "db.sql.table": "t",
        "db.collection.name": "t",
    }
    assert attributes == {k: v for k, v in expected.items() if k in keys}


@pytest.mark.parametrize(
    ("value", "mode"),
    [
        ("", OLD),
        ("http", OLD),
        ("database", NEW),
        (" Database ", NEW),
        ("database/dup", DUP),
        ("database,database/dup", DUP),
        ("databases", OLD),
    ],
)
def test_semconv_mode(value: str, mode: str) -> None:
    opt_in = Settings.from_env({"OTEL_SEMCONV_STABILITY_OPT_IN": value}).semconv_opt_in
    assert semconv_mode(opt_in) == mode


@pytest.mark.parametrize(
    ("database", "name"),
    [
        ("/srv/app/data/app.db", "app.db"),
        ("data/app.db", "app.db"),
        ("app.db", "app.db"),
        ("C:\\srv\\app\\app.db", "app.db"),
        ("file:/srv/app/app.db?mode=ro&uri=true", "app.db"),
        ("file:shared?mode=memory&cache=shared", None),
        (":memory:", None),
        ("", None),
        (None, None),
        ("shop", "shop"),  # a server database's name is kept as it is
    ],
)
def test_database_name(database: str | None, name: str | None) -> None:
    assert database_name(database) == name
