"""Mounted sub-applications: one count per request, labelled with the full route template."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _client import run_requests
from fastapi import FastAPI

from azora_otel import _fastapi
from azora_otel.testing import Capture, capture, installed


@pytest.fixture
def launched() -> Iterator[Capture]:
    """The class-level hooks of ``azora-otel-instrument``: every FastAPI app is wrapped."""
    with capture() as cap, installed(cap.telemetry, auto_instrument=True):
        yield cap


def make_apps() -> FastAPI:
    v2 = FastAPI()

    @v2.get("/items/{item_id}")
    async def v2_item(item_id: int) -> dict[str, int]:
        return {"v2": item_id}

    tenant = FastAPI()

    @tenant.get("/users/{user_id}")
    async def tenant_user(user_id: int) -> dict[str, int]:
        return {"user": user_id}

    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"v1": item_id}

    app.mount("/v2", v2)
    app.mount("/tenants/{tenant_id}", tenant)
    return app


def requests_by_route(cap: Capture) -> dict[str, float]:
    found: dict[str, float] = {}
    for point in cap.points("http_requests_total"):
        route = point.attributes["route"]
        found[route] = found.get(route, 0) + point.value
    return found


def test_mounted_apps_count_each_request_once_with_the_mount_prefix(launched: Capture) -> None:
    app = make_apps()
    statuses = run_requests(
        app,
        [("GET", "/items/1"), ("GET", "/v2/items/2"), ("GET", "/v2/items/3")]
        + [("GET", f"/tenants/t{i}/users/{i}") for i in range(5)]
        + [("GET", "/v2/nothing-here")],
    )
    assert statuses == [200] * 8 + [404]
    assert requests_by_route(launched) == {
        "/items/{item_id}": 1,
        "/v2/items/{item_id}": 2,
        "/tenants/{tenant_id}/users/{user_id}": 5,  # the tenant values never become labels
        "/v2/{path}": 1,  # the mount took it, its app had no route: as FastAPI's http.route
    }
    roots = [s for s in launched.spans() if s.parent is None]
    assert len(roots) == 9  # one trace per request, not one per application
    if _fastapi.NATIVE_TELEMETRY:
        # FastAPI's own telemetry steps back inside a mounted FastAPI app: one span in all.
        # (The contrib middleware of older FastAPI nests a second server span there.)
        assert len(launched.spans()) == 9
