"""A service with no monitoring code, for the hostile-input, load, fork and fault tests.

Routes: ``/health``, ``/items/{item_id}``, ``/login`` (takes secrets in the query
string and headers), ``/db/users/{user_id}`` (a SQLAlchemy query with bound
parameters), ``/db/slow`` (a slow query with a secret bound parameter),
``/fail`` (unhandled exception), ``/pid`` (which worker answered).
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from fastapi import FastAPI, Request
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.pool import StaticPool

_engine: tuple[int, Engine] | None = None
_engine_lock = threading.Lock()


def _sleep_ms(ms: float) -> float:
    time.sleep(float(ms) / 1000.0)
    return ms


def engine() -> Engine:
    """One in-memory SQLite engine per process (created after any fork)."""
    global _engine  # noqa: PLW0603
    with _engine_lock:
        if _engine is None or _engine[0] != os.getpid():
            eng = create_engine(
                "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
            )

            @event.listens_for(eng, "connect")
            def _connect(dbapi_connection: Any, _record: Any) -> None:
                dbapi_connection.create_function("sleep_ms", 1, _sleep_ms)

            with eng.begin() as conn:
                conn.execute(
                    text("create table users (id integer primary key, name text, password text)")
                )
                conn.execute(
                    text("insert into users (id, name, password) values (:id, :name, :pw)"),
                    [{"id": i, "name": f"user{i}", "pw": f"pw-{i}"} for i in range(1, 11)],
                )
            _engine = (os.getpid(), eng)
        return _engine[1]


def create_app() -> FastAPI:
    """A fresh application (in-process tests build one per test)."""
    app = FastAPI()

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/items/{item_id}")
    async def get_item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    @app.get("/login")
    async def login(request: Request) -> dict[str, bool]:
        return {"ok": bool(request.query_params) or "authorization" in request.headers}

    @app.get("/db/users/{user_id}")
    def get_user(user_id: int, password: str = "") -> dict[str, Any]:
        with engine().connect() as conn:
            row = conn.execute(
                text("select id, name from users where id = :id and password != :pw"),
                {"id": user_id, "pw": password},
            ).first()
        return {"found": row is not None}

    @app.get("/db/slow")
    def slow_query(secret: str = "", ms: int = 30) -> dict[str, Any]:
        with engine().connect() as conn:
            value = conn.execute(
                text("select sleep_ms(:ms), count(*) from users where password = :secret"),
                {"ms": ms, "secret": secret},
            ).first()
        return {"slept": value is not None}

    @app.get("/fail")
    async def fail() -> None:
        raise RuntimeError("unhandled")

    @app.get("/pid")
    async def pid() -> dict[str, int]:
        return {"pid": os.getpid()}

    return app


app = create_app()
