"""Shared pieces of the benchmarks: the app under test, an in-process ASGI driver,
the instrumentation variants and the OTLP sink.

Every variant is built with explicit providers and *no* global provider, so the
bare app living in the same process stays bare (FastAPI's native telemetry only
switches itself on when a provider is passed or a global one is set).
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import platform
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from typing import Any

ROUTES = ("async", "db", "error")
"""Trivial async route, sync route running one SQL query, route raising an exception."""

PATHS = {"async": "/items/42", "db": "/users/7", "error": "/boom"}


# --------------------------------------------------------------------------- the app


def make_engine() -> Any:
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import StaticPool

    engine = create_engine(
        "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
    )
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)"))
        conn.execute(
            text("INSERT INTO users (id, name) VALUES (:i, :n)"),
            [{"i": i, "n": f"user{i}"} for i in range(100)],
        )
    return engine


def make_app(
    telemetry: dict[str, Any] | None = None,
    n_extra_routes: int = 0,
    on_engine: Callable[[Any], None] | None = None,
) -> Any:
    """The service under test. ``telemetry`` is passed to ``FastAPI(telemetry=...)``;
    ``on_engine`` instruments its SQLAlchemy engine."""
    from fastapi import FastAPI
    from sqlalchemy import text

    kwargs: dict[str, Any] = {}
    if telemetry is not None:
        kwargs["telemetry"] = telemetry
    app = FastAPI(**kwargs)
    engine = make_engine()
    if on_engine is not None:
        on_engine(engine)
    query = text("SELECT id, name FROM users WHERE id = :id")

    # Extra routes first: a request for the routes below walks past all of them,
    # which is what the routes-scaling benchmark wants to see.
    for i in range(n_extra_routes):

        async def extra(item_id: int) -> dict[str, int]:
            return {"id": item_id}

        app.add_api_route(f"/extra{i}/{{item_id}}", extra, methods=["GET"])

    @app.get("/items/{item_id}")
    async def read_item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    @app.get("/users/{user_id}")
    def read_user(user_id: int) -> dict[str, Any]:
        with engine.connect() as conn:
            row = conn.execute(query, {"id": user_id}).one()
        return {"id": row.id, "name": row.name}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    return app


# --------------------------------------------------------------------------- ASGI driver


def scope_for(path: str, method: str = "GET") -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"testserver"),
            (b"user-agent", b"azora-bench"),
            (b"accept", b"*/*"),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {},
    }


async def call(app: Any, path: str, method: str = "GET") -> int:
    """One request through ``app``; returns the status (500 when the app raised)."""
    status = 0
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    try:
        await app(scope_for(path, method), receive, send)
    except Exception:  # noqa: BLE001 - the error route re-raises after the 500
        return status or 500
    return status


async def run_batch(app: Any, path: str, n: int, flush: Callable[[], None] | None) -> float:
    """CPU seconds (process-wide: includes exporter threads) per request over ``n`` calls."""
    gc.collect()
    t0 = time.process_time()
    for _ in range(n):
        await call(app, path)
    if flush is not None:
        flush()  # exporter CPU of this batch is charged to this batch
    return (time.process_time() - t0) / n


# --------------------------------------------------------------------------- sinks


class Sinks:
    """The sink process of ``sinks.py``: OTLP/HTTP, OTLP/gRPC, Sentry and Datadog endpoints
    on 127.0.0.1. Its CPU is its own, never charged to the service under test."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "sinks.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert self.proc.stdout is not None
        ports = json.loads(self.proc.stdout.readline())
        self.http_port: int = ports["http"]
        self.grpc_port: int = ports["grpc"]
        self.http = f"http://127.0.0.1:{self.http_port}"
        self.grpc = f"http://127.0.0.1:{self.grpc_port}"

    def env(self) -> dict[str, str]:
        """The variables through which variants find the sinks."""
        return {"BENCH_OTLP_ENDPOINT": self.http, "BENCH_OTLP_GRPC_ENDPOINT": self.grpc}

    def stats(self) -> dict[str, int]:
        with urllib.request.urlopen(f"{self.http}/stats", timeout=10) as response:
            return dict(json.loads(response.read()))

    def stop(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# --------------------------------------------------------------------------- environment


def versions() -> dict[str, str]:
    from importlib.metadata import version

    names = [
        "fastapi",
        "starlette",
        "opentelemetry-sdk",
        "opentelemetry-instrumentation-fastapi",
        "opentelemetry-instrumentation-sqlalchemy",
        "prometheus-fastapi-instrumentator",
        "prometheus-client",
        "sqlalchemy",
        "uvicorn",
        "azora-otel",
    ]
    found = {"python": platform.python_version()}
    for name in names:
        try:
            found[name] = version(name)
        except Exception:  # noqa: BLE001
            found[name] = "-"
    return found


def machine() -> dict[str, str]:
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpus": str(os.cpu_count()),
        "cpu": model or platform.processor(),
        "os": f"{platform.system()} {platform.release()}",
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def median(values: list[float]) -> float:
    s = sorted(values)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2
