"""Queries from many threads at once (sync routes run on a thread pool): counts stay exact."""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path

import sqlalchemy as sa

import azora_otel
from azora_otel.testing import capture

THREADS = 8
PER_THREAD = 300


def test_concurrent_queries_are_all_counted(tmp_path: Path) -> None:
    engine = sa.create_engine(
        f"sqlite:///{tmp_path / 'threads.db'}", pool_size=THREADS, max_overflow=0
    )
    with engine.begin() as conn:
        conn.execute(sa.text("create table items (id integer primary key, name text)"))
    with capture(tracing=False) as cap:
        azora_otel.instrument_engine(engine, telemetry=cap.telemetry)
        start = threading.Barrier(THREADS)

        def work(worker: int) -> None:
            start.wait()
            with engine.connect() as conn:
                for i in range(PER_THREAD):
                    conn.execute(sa.text("select * from items where id = :id"), {"id": i})
                    if i % 3 == 0:
                        with contextlib.suppress(sa.exc.OperationalError):
                            conn.execute(sa.text("select * from missing_table"))

        threads = [threading.Thread(target=work, args=(n,)) for n in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        failing = THREADS * len(range(0, PER_THREAD, 3))
        ok = THREADS * PER_THREAD
        assert cap.value("db_queries_total", model="items", status="success") == ok
        assert cap.value("db_queries_total", status="error") == failing
        assert cap.value("db_query_duration_ms", model="items") == ok
        stats = azora_otel.get_performance_stats(cap.telemetry)
        assert stats.total_queries == ok + failing
        assert stats.error_queries == failing
    engine.dispose()
