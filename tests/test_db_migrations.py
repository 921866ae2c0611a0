"""A real Alembic migration (``alembic init``'s own ``env.py``, batch mode on SQLite)
under the distro: what it leaves in the exposition, and that its ``fileConfig``
does not silence the distro's records."""

from __future__ import annotations

import io
import logging
import re
import sqlite3
import textwrap
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from prometheus_client.parser import text_string_to_metric_families

from azora_otel._logs import install_handler
from azora_otel.testing import Capture, capture, installed

REVISION = '''
"""orders"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade():
    op.create_table(
        "orders",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("total", sa.Integer),
    )
    op.create_index("ix_orders_total", "orders", ["total"])
    op.execute("INSERT INTO orders (id, total) VALUES (1, 10), (2, 20)")
    # SQLite cannot alter a column: batch mode copies the table through _alembic_tmp_orders
    with op.batch_alter_table("orders", recreate="always") as batch:
        batch.add_column(sa.Column("note", sa.String(32)))
        batch.alter_column("total", nullable=False, existing_type=sa.Integer)
    op.execute("UPDATE orders SET note = 'migrated'")
    op.drop_index("ix_orders_total", table_name="orders")
'''


@pytest.fixture
def migrated(tmp_path: Path) -> Iterator[tuple[Capture, str, Path]]:
    """Runs the migration as ``alembic upgrade head`` would, the distro process-wide."""
    root = logging.getLogger()
    ours = logging.getLogger("azora_otel")
    saved = (root.level, list(root.handlers), ours.level, ours.propagate, list(ours.handlers))
    stream = io.StringIO()
    db = tmp_path / "app.db"
    ini = tmp_path / "alembic.ini"
    config = Config(str(ini))
    command.init(config, str(tmp_path / "migrations"))
    config = Config(str(ini))  # now with the ini `alembic init` wrote, logging sections included
    config.set_main_option("sqlalchemy.url", f"sqlite:///{db}")
    (tmp_path / "migrations" / "versions" / "0001_orders.py").write_text(textwrap.dedent(REVISION))
    with (
        capture({"PERF_DB_QUERY_MS": "0.000001"}) as cap,
        installed(cap.telemetry, auto_instrument=True),
    ):
        install_handler("text")
        handler = next(h for h in ours.handlers if h.get_name() == "azora_otel")
        handler.setStream(stream)  # type: ignore[attr-defined]
        try:
            command.upgrade(config, "head")  # env.py: fileConfig(alembic.ini) first
            yield cap, stream.getvalue(), db
        finally:
            install_handler("off")
            root.setLevel(saved[0])
            root.handlers[:] = saved[1]
            ours.setLevel(saved[2])
            ours.propagate = saved[3]
            ours.handlers[:] = saved[4]
            ours.disabled = False


def pairs(exposition: str) -> set[tuple[str, str]]:
    out = set()
    for family in text_string_to_metric_families(exposition):
        if family.name == "db_queries":
            for sample in family.samples:
                out.add((sample.labels["operation"], sample.labels["model"]))
    return out


def test_migration_labels_are_bounded_and_real_tables(
    migrated: tuple[Capture, str, Path],
) -> None:
    cap, _, db = migrated
    found = pairs(cap.exposition())
    with closing(sqlite3.connect(db)) as conn:  # `with connect()` commits, never closes
        tables = {row[0] for row in conn.execute("select name from sqlite_master")}
    tables.add("sqlite_master")  # the catalog Alembic and SQLAlchemy read
    assert "orders" in tables
    models = {model for _, model in found}
    assert not any(m.startswith("_alembic_tmp_") for m in models)
    # Every model label is a table the database really has, or one of the fixed labels.
    assert models - {"unknown"} <= tables
    # Schema changes and data statements name their table, the scratch copy of batch
    # mode included ("create table _alembic_tmp_orders", "insert into
    # _alembic_tmp_orders ... from orders", "alter table _alembic_tmp_orders rename").
    assert {("create", "orders"), ("drop", "orders"), ("alter", "orders")} <= found
    assert {("insert", "orders"), ("update", "orders")} <= found


def test_migration_records_survive_alembic_file_config(
    migrated: tuple[Capture, str, Path],
) -> None:
    _, log, _ = migrated
    records = [line for line in log.splitlines() if "event=slow_query" in line]
    assert any("operation=update model=orders" in line for line in records), log
    assert any("operation=alter model=orders" in line for line in records), log
    # One record per line, statements with newlines included (Alembic's DDL has them).
    assert all(re.match(r"\d{4}-\d\d-\d\dT", line) for line in log.splitlines())
    assert not logging.getLogger("azora_otel").disabled
