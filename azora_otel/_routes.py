"""The ``route`` label: the full template of the route that handled a request.

FastAPI >= 0.142 computes ``http.route`` for its own server span while it routes: the
request's root path, then each selected route's template as the routers pick it
(every ``include_router`` prefix is already in the included route's template; a mount
adds its path, and ``/{path}`` until the mounted application's FastAPI router picks a
route of its own). It does so into a per-request object in ``scope["fastapi.telemetry"]``.
The label is read from that same object, so it equals ``http.route`` by construction:
when FastAPI's telemetry is active the object is FastAPI's own; otherwise (metrics-only
mode) the middleware puts an empty one there and FastAPI's routers fill it in.

Older FastAPI (0.110 to 0.141) reports nothing; :class:`RouteTable` reproduces the same
rule from the route table, walked once per application and looked up by the route
object routing leaves in the scope. Neither path scans the routes per request.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass, fields
from typing import Any

Scope = MutableMapping[str, Any]

UNMATCHED_ROUTE = "unmatched"
"""The ``route`` label of requests no route handled (unknown paths, scans, and requests a
middleware answered before routing)."""

_KEY = "fastapi.telemetry"
_log = logging.getLogger("azora_otel")


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


def _root_of(scope: Scope) -> tuple[str, str]:
    """(The root FastAPI puts in front of ``http.route``, the root path on arrival)."""
    root = scope.get("root_path", "")
    root = root if isinstance(root, str) else ""
    app_root = scope.get("app_root_path", root)
    return (app_root if isinstance(app_root, str) else root).rstrip("/"), root


@dataclass(frozen=True)
class _Entry:
    template: str
    """The full template below the application's root path."""
    prefix: re.Pattern[str] | None
    """What the mounts must have added to the root path (``None``: no mount)."""
    rank: int
    """Leaf routes (2) win over the mount that led to them (1)."""
    leaf: re.Pattern[str] | None
    """The route's own path regex: tells apart routes that share an endpoint."""
    pinned: object
    """The keyed object itself: keeps its ``id`` from being reused."""


_MOUNTED_ANYTHING = 1
_ROUTE = 2
_INSIDE_OTHER_APP = 3  # ranks as a route; its mount path is only the start of the root path
_MAX_MISSES = 1024


class RouteTable:
    """The same rule as FastAPI's, for FastAPI < 0.142: built from the route table once.

    Routing leaves in the scope the route object it selected (``scope["route"]``; the
    included-route context on FastAPI 0.141) and its endpoint (``scope["endpoint"]``:
    the only trace of Starlette routes on old Starlette, and of the mounted application).
    Each of them maps to its full template and to the mount path that leads to it; the
    root path the mounts appended tells apart one object reachable by two mounts.
    """

    def __init__(self, app: Any) -> None:
        self._app = app
        self._entries: dict[int, tuple[_Entry, ...]] = {}
        self._misses: dict[int, object] = {}
        self._scope_key, self._context_key = _fastapi_scope_keys()
        self._rebuild()

    def begin(self, scope: Scope) -> tuple[str, str]:
        return _root_of(scope)

    def label(self, scope: Scope, token: tuple[str, str]) -> str:
        label_root, entry_root = token
        root = scope.get("root_path", "")
        if not isinstance(root, str):
            root = ""
        added = root[len(entry_root) :] if root.startswith(entry_root) else root
        best: list[_Entry] = []
        for key in self._keys(scope):
            for entry in self._lookup(key):
                if not (entry.prefix.fullmatch(added) if entry.prefix else not added):
                    continue
                if not best or entry.rank > best[0].rank:
                    best = [entry]
                elif entry.rank == best[0].rank and entry.template != best[0].template:
                    best.append(entry)
        if len(best) > 1:  # one endpoint behind several paths: the path decides
            path = scope.get("path", "")
            path = path if isinstance(path, str) else ""
            rest = path[len(root) :] if path.startswith(root) else path
            best = [e for e in best if e.leaf is not None and e.leaf.match(rest)] or best
        return label_root + best[0].template if best else UNMATCHED_ROUTE

    @staticmethod
    def end(_scope: Scope, _token: object) -> None:
        return

    def _keys(self, scope: Scope) -> Iterable[object]:
        fastapi_scope = scope.get(self._scope_key) if self._scope_key else None
        if isinstance(fastapi_scope, dict):
            context = fastapi_scope.get(self._context_key)
            if context is not None:
                yield context
        for name in ("route", "endpoint"):
            value = scope.get(name)
            if value is not None:
                yield value

    def _lookup(self, key: object) -> tuple[_Entry, ...]:
        entries = self._entries.get(id(key))
        if entries is not None:
            return entries
        if id(key) in self._misses:
            return ()
        self._rebuild()  # routes added after the first request, or rebuilt contexts
        entries = self._entries.get(id(key))
        if entries is None and len(self._misses) < _MAX_MISSES:
            self._misses[id(key)] = key
        return entries or ()

    def _rebuild(self) -> None:
        found: dict[int, list[_Entry]] = {}

        def add(keys: Iterable[object], template: str, chain: str, rank: int, leaf: Any) -> None:
            open_ = rank == _INSIDE_OTHER_APP
            prefix = _prefix_regex(chain, open_) if chain else None
            leaf = leaf if isinstance(leaf, re.Pattern) else None
            for key in keys:
                if key is not None:
                    entry = _Entry(template, prefix, min(rank, _ROUTE), leaf, key)
                    found.setdefault(id(key), []).append(entry)

        try:
            _walk(getattr(self._app, "routes", ()), "", add)
        except Exception:  # noqa: BLE001 - an odd route table: fewer labels, never an error
            _log.debug("walking the route table failed", exc_info=True)
        self._entries = {key: tuple(entries) for key, entries in found.items()}


def _fastapi_scope_keys() -> tuple[str | None, str | None]:
    try:
        import fastapi.routing  # noqa: PLC0415

        return (
            getattr(fastapi.routing, "_FASTAPI_SCOPE_KEY", None),
            getattr(fastapi.routing, "_FASTAPI_EFFECTIVE_ROUTE_CONTEXT_KEY", None),
        )
    except ImportError:
        return None, None


def _prefix_regex(chain: str, open_: bool) -> re.Pattern[str]:
    from starlette.routing import compile_path  # noqa: PLC0415

    regex = compile_path(chain)[0].pattern.removesuffix("$")
    return re.compile(regex + ("(?:/.*)?$" if open_ else "$"))


def _is_fastapi_router(app: Any) -> bool:
    from fastapi import FastAPI  # noqa: PLC0415
    from fastapi.routing import APIRouter  # noqa: PLC0415

    return isinstance(app, (FastAPI, APIRouter))


def _walk(routes: Iterable[Any], chain: str, add: Any) -> None:
    from starlette.routing import Mount  # noqa: PLC0415

    for route in routes:
        contexts = getattr(route, "effective_route_contexts", None)
        if callable(contexts):  # FastAPI 0.141's lazily included router
            for context in contexts():
                inner = getattr(context, "starlette_route", None)
                if isinstance(inner, Mount):
                    _walk_mount(inner, chain, add, (context,))
                else:
                    leaf = inner if inner is not None else context
                    template = leaf.path_format
                    add((context, inner), chain + template, chain, _ROUTE, leaf.path_regex)
        elif isinstance(route, Mount):
            _walk_mount(route, chain, add, ())
        elif isinstance(getattr(route, "path_format", None), str):
            keys = (route, getattr(route, "endpoint", None))
            leaf = getattr(route, "path_regex", None)
            add(keys, chain + route.path_format, chain, _ROUTE, leaf)


def _walk_mount(mount: Any, chain: str, add: Any, keys: tuple[object, ...]) -> None:
    mount_chain = chain + mount.path
    template = mount_chain + "/{path}"
    base = getattr(mount, "_base_app", mount.app)
    add((*keys, mount, mount.app, base), template, mount_chain, _MOUNTED_ANYTHING, None)
    if _is_fastapi_router(base):
        _walk(base.routes, mount_chain, add)
        return
    # Any other application: FastAPI knows only the mount's template.
    inner = list(_all_routes(getattr(base, "routes", ())))
    for route in inner:
        keys = (route, getattr(route, "endpoint", None), getattr(route, "app", None))
        add(keys, template, mount_chain, _INSIDE_OTHER_APP, None)


def _all_routes(routes: Iterable[Any]) -> Iterable[Any]:
    for route in routes:
        yield route
        nested = getattr(route, "routes", None)
        if nested and nested is not routes:
            yield from _all_routes(nested)


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
