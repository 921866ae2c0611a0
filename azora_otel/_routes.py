"""The ``route`` label: the full template of the route that handled a request.

FastAPI >= 0.142 computes ``http.route`` for its own server span while it routes: the
request's root path, then each selected route's template as the routers pick it
(every ``include_router`` prefix is already in the included route's template; a mount
adds its path, and ``/{path}`` until the mounted application's FastAPI router picks a
route of its own). It does so into a per-request object in ``scope["fastapi.telemetry"]``.
The label is read from that same object, so it equals ``http.route`` by construction:
when FastAPI's telemetry is active the object is FastAPI's own; otherwise (metrics-only
mode) the middleware puts an empty one there and FastAPI's routers fill it in.

Older FastAPI (0.110 to 0.141) reports nothing; :class:`azora_otel._route_table.RouteTable`
reproduces the same rule from the route table, walked once per application and looked
up by the route object routing leaves in the scope. Neither path scans the routes per
request.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import fields
from typing import Any

Scope = MutableMapping[str, Any]

UNMATCHED_ROUTE = "unmatched"
"""The ``route`` label of requests no route handled (unknown paths, scans, and requests a
middleware answered before routing)."""

_KEY = "fastapi.telemetry"


def _native_record_class() -> type[Any] | None:
    """A cheap subclass of FastAPI's per-request telemetry record, if this FastAPI has one
    that behaves as expected (checked once here; anything else means the route table)."""
    try:
        from fastapi.telemetry._api import (  # noqa: PLC0415
            _RequestTelemetry,
            _route_selected,
        )

        class _Record(_RequestTelemetry):
            # Made with object.__new__: FastAPI's constructor builds request data the
            # middleware never needs (about 3 µs). Every field FastAPI reads is a class
            # default here; the middleware sets the exception list (and the root prefix).
            __slots__ = ()
            span = None
            span_method = ""
            tracer = None
            logger = None
            route = None
            status_code = None
            data = None
            _mount_prefix = ""

        probe = _new(_Record)
        probe._exceptions = []
        probe._mount_prefix = "/root"
        missing = [f.name for f in fields(_RequestTelemetry) if not hasattr(probe, f.name)]
        _route_selected(scope={_KEY: probe}, path="/items/{id}")
        if missing or probe.route != "/root/items/{id}":
            return None
    except Exception:  # noqa: BLE001 - any mismatch: use the route table
        return None
    return _Record


_new = object.__new__
_RECORD = _native_record_class()

NATIVE_ROUTES = _RECORD is not None
"""Whether FastAPI computes the template itself (FastAPI >= 0.142)."""


class NativeRoutes:
    """Labels from FastAPI's own per-request route record (FastAPI >= 0.142)."""

    def begin(self, scope: Scope) -> Any:
        record = scope.get(_KEY)
        if record is None:  # FastAPI's telemetry is off for this request: bring a record
            record = _new(_RECORD)  # type: ignore[arg-type]
            record._exceptions = []
            # FastAPI's own prefix: the application's root path on arrival
            root = scope.get("app_root_path")
            if root is None:
                root = scope.get("root_path")
            if root and isinstance(root, str):
                record._mount_prefix = root.rstrip("/")
            scope[_KEY] = record
        return record

    @staticmethod
    def label(_scope: Scope, record: Any) -> str:
        route = getattr(record, "route", None)
        return route if route and isinstance(route, str) else UNMATCHED_ROUTE

    @staticmethod
    def end(scope: Scope, record: Any) -> None:
        if record.__class__ is _RECORD:
            # FastAPI keeps the request's exceptions there: drop them with the record,
            # or each one would hold its frames (and the scope) in a reference cycle.
            if record._exceptions:
                record._exceptions.clear()
            scope.pop(_KEY, None)


def app_routes_path(app: Any, path: str) -> bool:
    """Whether ``app``'s own routes answer ``path`` for some HTTP method.

    Asked once, when the middleware stack is built, with the application's own routing
    (``route.matches``): a route or a mount at that path, or at its slash twin the
    router redirects to. A catch-all mount at ``/`` (static files of a single-page app)
    claims nothing by itself.
    """
    from starlette.routing import Match, Mount  # noqa: PLC0415

    paths = [path]
    if getattr(getattr(app, "router", None), "redirect_slashes", False) and path != "/":
        paths.append(path.rstrip("/") if path.endswith("/") else path + "/")
    for candidate in paths:
        for route in getattr(app, "routes", ()):
            if isinstance(route, Mount) and not route.path:
                continue
            scope = {
                "type": "http",
                "method": "GET",
                "path": candidate,
                "root_path": "",
                "headers": [],
                "query_string": b"",
            }
            try:
                match, _ = route.matches(scope)
            except Exception:  # noqa: BLE001, S112 - a route that cannot tell: not ours to judge
                continue
            if match is not Match.NONE:
                return True
    return False
