"""``azora_otel.testing.installed``: a capture as the process-wide distro, and back."""

from __future__ import annotations

import socket

import pytest
import sqlalchemy as sa
from _client import run_requests
from fastapi import FastAPI

import azora_otel
from azora_otel.testing import capture, free_port, installed


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"item": item_id}

    return app


def test_the_process_wide_api_records_into_the_installed_capture() -> None:
    with capture() as cap, installed(cap.telemetry) as telemetry:
        assert telemetry is cap.telemetry
        azora_otel.track_db_query("select", "users", 3.0)
        assert cap.value("db_queries_total", operation="select", model="users") == 1
        assert "db_queries_total" in azora_otel.get_metrics()
        assert azora_otel.get_performance_stats().total_queries == 1


def _record_then_fail(telemetry: azora_otel.Telemetry) -> None:
    with installed(telemetry):
        azora_otel.track_db_query("select", "inner", 1.0)
        raise RuntimeError("inside")


def test_the_previous_distro_is_back_after_the_block_even_on_error() -> None:
    with capture() as outer, capture() as inner, installed(outer.telemetry):
        with pytest.raises(RuntimeError, match="inside"):
            _record_then_fail(inner.telemetry)
        azora_otel.track_db_query("select", "outer", 1.0)
        assert inner.value("db_queries_total") == 1
        assert outer.value("db_queries_total", model="outer") == 1
        assert outer.value("db_queries_total", model="inner") == 0


def test_none_is_an_unconfigured_process() -> None:
    with capture() as cap, installed(cap.telemetry):
        with installed(None):
            with pytest.raises(RuntimeError, match="not configured"):
                azora_otel.get_metrics()
            azora_otel.track_db_query("select", "users", 1.0)  # a no-op, never raises
        assert cap.value("db_queries_total") == 0


def test_auto_instrument_hooks_new_apps_and_engines_then_unhooks_them() -> None:
    with capture() as cap, installed(cap.telemetry, auto_instrument=True):
        assert run_requests(_app(), [("GET", "/items/1")]) == [200]
        engine = sa.create_engine("sqlite://")
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
        assert cap.value("http_requests_total", route="/items/{item_id}") == 1
        assert cap.value("db_queries_total") == 1

    # the hooks went with the block: nothing is recorded by apps and engines made now
    with capture() as later, installed(later.telemetry):
        assert run_requests(_app(), [("GET", "/items/2")]) == [200]
        engine = sa.create_engine("sqlite://")
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
        assert later.value("http_requests_total") == 0
        assert later.value("db_queries_total") == 0


def test_hooks_installed_before_the_block_stay() -> None:
    with capture() as cap, installed(cap.telemetry, auto_instrument=True):
        with installed(cap.telemetry, auto_instrument=True):
            pass
        # the inner block did not install them, so it did not remove them
        assert run_requests(_app(), [("GET", "/items/3")]) == [200]
        assert cap.value("http_requests_total") == 1


def test_free_port_is_a_port_one_can_listen_on() -> None:
    port = free_port()
    assert 0 < port < 65536
    with socket.create_server(("127.0.0.1", port)) as server:
        assert server.getsockname()[1] == port


def test_free_port_never_hands_out_the_same_port_twice_in_a_row() -> None:
    # A test asks for the Collector's five ports before it starts; two equal ones make
    # it fail with "address already in use" (it did, in CI).
    from azora_otel.testing import free_port

    ports = [free_port() for _ in range(1000)]
    assert len(set(ports)) == len(ports)
