"""The ``route`` label before FastAPI 0.142: FastAPI's own ``http.route`` rule, applied
from the route table.

The table is walked once per application (and again only when routes were added);
each request's label is then a lookup by the route object routing selected, never a
scan of the routes. See :mod:`azora_otel._routes` for the rule itself.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from azora_otel._routes import UNMATCHED_ROUTE, Scope

_log = logging.getLogger("azora_otel")


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
