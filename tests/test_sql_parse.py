"""SQL → (operation, model) labels: table-driven cases and a property test."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from azora_otel import _sql
from azora_otel._sql import (
    MAX_LABEL_LENGTH,
    OPERATIONS,
    OTHER_OPERATION,
    OVERFLOW_MODEL,
    UNKNOWN_MODEL,
    describe,
    normalize_model,
    normalize_operation,
    parse,
    truncate,
)

# (sql, operation, the table the statement is about: "unknown" when none)
FUNCTION_FROM = [
    # FROM inside a function's parentheses is no table
    ("SELECT EXTRACT(YEAR FROM birthday) AS y, count(*) FROM users GROUP BY 1", "select", "users"),
    ("SELECT EXTRACT(YEAR FROM birthday)", "select", UNKNOWN_MODEL),
    ("select extract(epoch from now() - created_at) from (select 1) s", "select", UNKNOWN_MODEL),
    ("select substring(name from 2 for 3)", "select", UNKNOWN_MODEL),
    ("select substring(name from start_at) from users", "select", "users"),
    ("select substring(name from start_at)", "select", UNKNOWN_MODEL),
    ("select trim(both ' ' from name)", "select", UNKNOWN_MODEL),
    ("select trim(leading from name) from users", "select", "users"),
    ("select overlay(name placing 'x' from 2 for 3)", "select", UNKNOWN_MODEL),
    ("select position('a' in name), substring(x from 1) from users", "select", "users"),
    ("select a is distinct from b", "select", UNKNOWN_MODEL),
    ("select * from t where a is not distinct from b", "select", "t"),
    # a subquery inside a function's parentheses is still a query
    ("select coalesce((select max(price) from items), 0)", "select", "items"),
    ("select count(*) filter (where x in (select id from flagged))", "select", "flagged"),
]  # fmt: skip

DDL = [
    # (sql, operation, table): schema changes name the table they change
    ("CREATE UNIQUE INDEX ix_deployment_name ON deployment (name)", "create", "deployment"),
    ("create index concurrently if not exists ix on only public.orders (a)", "create", "orders"),
    ("CREATE INDEX ON orders (total)", "create", "orders"),
    ('CREATE INDEX "ix" ON "Orders" ("a") WHERE a > 0', "create", "orders"),
    ("DROP INDEX ix_deployment_name", "drop", UNKNOWN_MODEL),
    ("DROP INDEX IF EXISTS public.ix_orders", "drop", UNKNOWN_MODEL),
    ("drop index ix_orders on orders", "drop", "orders"),
    ("ALTER TABLE deployment ADD COLUMN x INTEGER", "alter", "deployment"),
    ("alter table if exists only orders drop column x", "alter", "orders"),
    ("ALTER INDEX ix RENAME TO ix2", "alter", UNKNOWN_MODEL),
    ("create view recent as select * from orders", "create", "recent"),
    ("create or replace materialized view daily as select 1", "create", "daily"),
    ("drop view if exists recent", "drop", "recent"),
    ("refresh materialized view concurrently daily", "refresh", "daily"),
    ("CREATE TRIGGER tr AFTER UPDATE OF a ON orders FOR EACH ROW EXECUTE f()", "create", "orders"),
    ("create policy p on orders using (owner = current_user)", "create", "orders"),
    ("create virtual table docs using fts5(body)", "create", "docs"),
    ("create sequence order_seq", "create", UNKNOWN_MODEL),
    ("create schema reporting", "create", UNKNOWN_MODEL),
    ("comment on table orders is 'x'", "comment", "orders"),
    ("COMMENT ON COLUMN public.orders.total IS 'cents'", "comment", "orders"),
    ("COPY orders (id, total) FROM STDIN WITH (FORMAT csv)", "copy", "orders"),
    ("copy (select * from items where a > 1) to stdout", "copy", "items"),
    ("LOCK TABLE orders IN ACCESS EXCLUSIVE MODE", "lock", "orders"),
    ("lock orders", "lock", "orders"),
    ("LOCK TABLES orders WRITE", "lock", "orders"),
    ("ANALYZE orders", "analyze", "orders"),
    ("analyze verbose orders (total)", "analyze", "orders"),
    ("ANALYZE", "analyze", UNKNOWN_MODEL),
    ("VACUUM FULL ANALYZE orders", "vacuum", "orders"),
    ("vacuum (verbose, skip_locked) public.orders", "vacuum", "orders"),
    ("VACUUM", "vacuum", UNKNOWN_MODEL),
    ("vacuum main", "vacuum", UNKNOWN_MODEL),
    ("vacuum into '/tmp/backup.db'", "vacuum", UNKNOWN_MODEL),
    ("REINDEX TABLE CONCURRENTLY orders", "reindex", "orders"),
    ("reindex index ix_orders", "reindex", UNKNOWN_MODEL),
    ("grant select on orders to reporting", "grant", "orders"),
    ("GRANT SELECT ON ALL TABLES IN SCHEMA public TO r", "grant", UNKNOWN_MODEL),
    ("revoke all on table orders from r", "revoke", "orders"),
    # synonyms of transaction control
    ("END", "commit", UNKNOWN_MODEL),
    ("end transaction", "commit", UNKNOWN_MODEL),
    ("ABORT", "rollback", UNKNOWN_MODEL),
    ("START TRANSACTION ISOLATION LEVEL SERIALIZABLE", "begin", UNKNOWN_MODEL),
    # Alembic's SQLite batch mode: the scratch copy is labelled with its table
    ("CREATE TABLE _alembic_tmp_deployment (id CHAR(36) NOT NULL)", "create", "deployment"),
    ("INSERT INTO _alembic_tmp_deployment (id) SELECT id FROM deployment", "insert", "deployment"),
    ("ALTER TABLE _alembic_tmp_deployment RENAME TO deployment", "alter", "deployment"),
    # SQLite reflection reads the catalog, not the table
    ('PRAGMA main.table_info("deployment")', "pragma", UNKNOWN_MODEL),
]  # fmt: skip

MULTI = [
    # several statements: the first write wins, else the first non-control statement
    ("SELECT 1; DELETE FROM orders", "delete", "orders"),
    ("select * from a; update b set x = 1; delete from c", "update", "b"),
    ("BEGIN; SELECT * FROM orders; COMMIT", "select", "orders"),
    ("set search_path to app; select * from orders;", "select", "orders"),
    ("begin; commit", "begin", UNKNOWN_MODEL),
    ("select 1;", "select", UNKNOWN_MODEL),
    ("; ; select * from orders", "select", "orders"),
    ("select ';' from a; insert into b values (';')", "insert", "b"),
    ("create table t (a int); create index ix on t (a)", "create", "t"),
]  # fmt: skip

CASES = [
    # plain DML, as SQLAlchemy renders it for each driver's paramstyle
    ("SELECT orders.id, orders.total FROM orders WHERE orders.id = ?", "select", "orders"),
    ("select * from orders join items on items.order_id = orders.id", "select", "orders"),
    ('SELECT "Orders".id FROM "Orders" WHERE "Orders".id = %(id_1)s', "select", "orders"),
    ("select * from public.orders", "select", "orders"),
    ('select * from "public"."orders" as o', "select", "orders"),
    ("select x from [dbo].[Users]", "select", "users"),
    ("select x from `shop`.`users`", "select", "users"),
    ("select * from t1, t2", "select", "t1"),
    ("INSERT INTO orders (total) VALUES ($1::INTEGER) RETURNING orders.id", "insert", "orders"),
    ("insert into public.orders default values", "insert", "orders"),
    ("insert or replace into kv (k, v) values (?, ?)", "insert", "kv"),
    ("replace into kv values (1, 2)", "replace", "kv"),
    ("UPDATE orders SET total=%(total)s WHERE orders.id = %(id_1)s", "update", "orders"),
    ("update only orders set a = 1", "update", "orders"),
    ("DELETE FROM items WHERE items.id = ?", "delete", "items"),
    ('delete from "public"."Orders" where id = $1', "delete", "orders"),
    (
        "merge into stock s using incoming i on s.id = i.id when matched then update set n = 1",
        "merge",
        "stock",
    ),
    # subqueries: the outermost FROM wins; FROM (subquery) → its table
    (
        "SELECT count(*) AS count_1 FROM (SELECT orders.id FROM orders) AS anon_1",
        "select",
        "orders",
    ),
    ("select (select max(price) from items) from orders", "select", "orders"),
    ("select * from orders where id in (select order_id from items)", "select", "orders"),
    ("(select id from a) union (select id from b)", "select", "a"),
    # CTEs: the main statement's verb, the table the CTE reads
    ("with x as (select * from orders) select * from x", "select", "orders"),
    (
        "WITH recent AS MATERIALIZED (SELECT * FROM orders) SELECT id FROM recent",
        "select",
        "orders",
    ),
    ("with a as (select 1) insert into audit select * from a", "insert", "audit"),
    # a CTE that writes: the write is the statement's operation, never hidden by the select
    ("with x as (update orders set a = 1 returning *) select * from x", "update", "orders"),
    (
        "with d as (delete from items where id = $1 returning *) select count(*) from d",
        "delete",
        "items",
    ),
    (
        "with i as (insert into audit (a) values (1) returning id) insert into log select * from i",
        "insert",
        "log",
    ),
    (
        "with recursive r(n) as (select 1 union all select n + 1 from r) select * from r",
        "select",
        UNKNOWN_MODEL,
    ),
    (
        "with recursive t as (select id from tree union all select id from t) select * from t",
        "select",
        "tree",
    ),
    (
        "with a as (select * from b), b as (select * from a) select * from a",
        "select",
        UNKNOWN_MODEL,
    ),
    ("with", OTHER_OPERATION, UNKNOWN_MODEL),
    ("with x as select", OTHER_OPERATION, UNKNOWN_MODEL),
    # leading comments and whitespace
    ("/* request_id=42 */ SELECT * FROM orders", "select", "orders"),
    ("-- note\n  \n\tselect * from orders", "select", "orders"),
    ("/* unterminated", OTHER_OPERATION, UNKNOWN_MODEL),
    # nothing to tell
    ("select pg_sleep(0.2)", "select", UNKNOWN_MODEL),
    ("SELECT 1", "select", UNKNOWN_MODEL),
    ("select * from generate_series(1, 10)", "select", UNKNOWN_MODEL),
    ("select 'from orders' as s", "select", UNKNOWN_MODEL),
    ("select $$ from orders $$", "select", UNKNOWN_MODEL),
    ("BEGIN", "begin", UNKNOWN_MODEL),
    ("COMMIT", "commit", UNKNOWN_MODEL),
    ("SAVEPOINT sa_savepoint_1", "savepoint", UNKNOWN_MODEL),
    ("show standard_conforming_strings", "show", UNKNOWN_MODEL),
    ("explain select * from orders", "explain", UNKNOWN_MODEL),
    ("values (1), (2)", OTHER_OPERATION, UNKNOWN_MODEL),
    ("frobnicate the database", OTHER_OPERATION, UNKNOWN_MODEL),
    ("", OTHER_OPERATION, UNKNOWN_MODEL),
    ("   ", OTHER_OPERATION, UNKNOWN_MODEL),
    ("42", OTHER_OPERATION, UNKNOWN_MODEL),
    # DDL
    ("CREATE TABLE orders (id INTEGER NOT NULL, PRIMARY KEY (id))", "create", "orders"),
    ("create temporary table if not exists scratch (a int)", "create", "scratch"),
    ("create index ix_orders_total on orders (total)", "create", "orders"),
    ("DROP TABLE IF EXISTS public.orders", "drop", "orders"),
    ("alter table only orders add column x int", "alter", "orders"),
    ("truncate table items", "truncate", "items"),
    ("truncate items", "truncate", "items"),
    *FUNCTION_FROM,
    *DDL,
    *MULTI,
]


@pytest.mark.parametrize(("sql", "operation", "table"), CASES)
def test_parse(sql: str, operation: str, table: str) -> None:
    """``table`` is what the statement is about (``unknown``: nothing); the ``model``
    label is that table."""
    assert parse(sql) == (operation, table)
    assert describe(sql) == (operation, table, None if table == UNKNOWN_MODEL else table)


@pytest.mark.parametrize(
    ("sql", "operation", "model"),
    [
        # A migration as Alembic's SQLite batch mode runs it: every statement names the
        # table it changes, the scratch copy included.
        ("CREATE TABLE flow_run (id CHAR(36) NOT NULL)", "create", "flow_run"),
        ("CREATE UNIQUE INDEX ix_flow_run__name ON flow_run (name)", "create", "flow_run"),
        ("CREATE TABLE _alembic_tmp_flow_run (id CHAR(36) NOT NULL)", "create", "flow_run"),
        ("INSERT INTO _alembic_tmp_flow_run (id) SELECT flow_run.id FROM flow_run", "insert",
         "flow_run"),
        ("DROP TABLE flow_run", "drop", "flow_run"),
        ("ALTER TABLE _alembic_tmp_flow_run RENAME TO flow_run", "alter", "flow_run"),
        ("DROP INDEX ix_flow_run__name", "drop", UNKNOWN_MODEL),
        ("create sequence s", "create", UNKNOWN_MODEL),
        ("COMMENT ON COLUMN flow_run.name IS 'x'", "comment", "flow_run"),
        ("grant select on flow_run to r", "grant", "flow_run"),
    ],
)  # fmt: skip
def test_schema_changes_name_their_table(sql: str, operation: str, model: str) -> None:
    assert parse(sql) == (operation, model)


def test_generated_table_names_stay_within_the_model_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_sql, "_models", set())
    monkeypatch.setattr(_sql, "_cache", {})
    monkeypatch.setattr(_sql, "MAX_MODELS", 3)
    labels = {parse(f"create temp table scratch_{i} (a int)")[1] for i in range(10)}
    assert labels == {"scratch_0", "scratch_1", "scratch_2", OVERFLOW_MODEL}
    assert describe("drop table scratch_9")[2] == "scratch_9"  # the span still names it
    assert parse("select * from scratch_1") == ("select", "scratch_1")


def test_parse_is_cached_and_stable() -> None:
    sql = "select * from cached_table where id = ?"
    first = describe(sql)
    assert _sql._cache[sql] == first == ("select", "cached_table", "cached_table")
    assert describe(sql) is first  # the hot path is one dict lookup


def test_non_strings() -> None:
    assert parse(None) == (OTHER_OPERATION, UNKNOWN_MODEL)
    assert parse(b"select * from orders") == (OTHER_OPERATION, UNKNOWN_MODEL)


def test_long_names_are_capped() -> None:
    name = "t" * 500
    _, model = parse(f"select * from {name}")
    assert model == "t" * MAX_LABEL_LENGTH


def test_table_far_past_the_parsed_prefix_is_unknown() -> None:
    columns = ", ".join(f"c{i}" for i in range(5000))
    assert parse(f"select {columns} from orders") == ("select", UNKNOWN_MODEL)


def test_deep_nesting_never_raises() -> None:
    sql = "select * from " + "(select * from " * 3000 + "orders" + ")" * 3000
    operation, model = parse(sql)
    assert operation == "select"
    assert model in {"orders", UNKNOWN_MODEL}


def test_distinct_models_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_sql, "_models", set())
    monkeypatch.setattr(_sql, "_cache", {})
    monkeypatch.setattr(_sql, "MAX_MODELS", 3)
    seen = {parse(f"select * from tmp_{i}")[1] for i in range(10)}
    assert seen == {"tmp_0", "tmp_1", "tmp_2", OVERFLOW_MODEL}
    assert parse("select * from tmp_1")[1] == "tmp_1"  # known tables keep their label


def test_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_sql, "_cache", {})
    for i in range(_sql._CACHE_SIZE + 10):
        parse(f"select {i}")
    assert len(_sql._cache) <= _sql._CACHE_SIZE


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("select", "select"),
        (" SELECT ", "select"),
        ("Insert", "insert"),
        ("find", "other"),
        ("", "other"),
        (None, "other"),
        (3, "other"),
    ],
)
def test_normalize_operation(given: object, expected: str) -> None:
    assert normalize_operation(given) == expected


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("users", "users"),
        (" Users ", "users"),
        ("", UNKNOWN_MODEL),
        ("   ", UNKNOWN_MODEL),
        (None, UNKNOWN_MODEL),
        ("a\nb", "a_b"),
        ("x" * 100, "x" * MAX_LABEL_LENGTH),
    ],
)
def test_normalize_model(given: object, expected: str) -> None:
    assert normalize_model(given) == expected


def test_truncate() -> None:
    assert truncate("abc", 10) == "abc"
    cut = truncate("x" * 100, 30)
    assert len(cut) == 30
    assert cut.endswith("...[truncated]")


SQLISH = st.lists(
    st.sampled_from(
        [
            "select",
            "from",
            "with",
            "as",
            "(",
            ")",
            ",",
            ".",
            "insert",
            "into",
            "update",
            "delete",
            "recursive",
            "orders",
            '"Q"',
            "'s'",
            "--c\n",
            "/*",
            "*/",
            "$$",
            " ",
            "only",
            "table",
            "join",
            "values",
            "[x]",
            "`y`",
            "?",
            ";",
        ]
    ),
    max_size=40,
).map(" ".join)


def _check_bounded(sql: str) -> None:
    operation, model = parse(sql)
    assert operation in OPERATIONS or operation == OTHER_OPERATION
    assert isinstance(model, str)
    assert 0 < len(model) <= MAX_LABEL_LENGTH
    assert model == model.lower()
    assert model.isprintable()


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_text_gives_bounded_labels(sql: str) -> None:
    _check_bounded(sql)


@settings(max_examples=300, deadline=None)
@given(SQLISH)
def test_sql_like_text_gives_bounded_labels(sql: str) -> None:
    _check_bounded(sql)
