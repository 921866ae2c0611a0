"""Name and attributes of the CLIENT span of one SQL statement.

Which conventions: the database semantic conventions are stable since semconv
1.33, and instrumentations that emitted the older ones (v1.24 and before) keep
them by default and switch with ``OTEL_SEMCONV_STABILITY_OPT_IN``, like every
contrib instrumentation of this release line (``opentelemetry-instrumentation``
0.66b2 reads the same variable the same way):

==========================  ==========================  =========================
what                        default (v1.24 names)        ``database`` (stable)
==========================  ==========================  =========================
database system             ``db.system``               ``db.system.name``
database name               ``db.name``                 ``db.namespace``
statement (placeholders)    ``db.statement``            ``db.query.text``
operation                   ``db.operation``            ``db.operation.name``
table                       ``db.sql.table``            ``db.collection.name``
server                      ``net.peer.name``/``.port``  ``server.address``/``.port``
==========================  ==========================  =========================

``database/dup`` sets both; ``error.type`` is set on failure in every mode.

The span name follows the stable rule in every mode, ``{operation} {target}``,
where the target is the table (``select orders``), else the database name
(``begin shop``), else nothing (``begin``); a statement whose verb is not one the
distro knows is named after its target, else the system (``sqlite``). Names stay
low-cardinality: the operation is one of a fixed set and the table is the one the
statement is about, never a literal.

A SQLite (or any file) database is named by the file's base name only
(``/srv/app/data/app.db`` → ``app.db``): the directory layout of a deployment
is not the span's business. An in-memory database has no name.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

OLD, NEW, DUP = "old", "new", "dup"

_SYSTEMS = {"mssql": ("mssql", "microsoft.sql_server"), "oracle": ("oracle", "oracle.db")}
"""Dialect → (v1.24 ``db.system``, stable ``db.system.name``) where the two differ."""

_MEMORY = frozenset({"", ":memory:"})

Attributes = dict[str, str | int]


def semconv_mode(opt_in: Collection[str]) -> str:
    """``old``, ``new`` or ``dup`` from ``OTEL_SEMCONV_STABILITY_OPT_IN`` as
    ``Settings.semconv_opt_in`` holds it (``database``, ``database/dup``;
    ``database/dup`` wins when both are listed)."""
    values = opt_in
    if "database/dup" in values:
        return DUP
    return NEW if "database" in values else OLD


def database_name(database: str | None) -> str | None:
    """The database's name as spans show it: a file path's base name, no URI query."""
    if not database:
        return None
    name = database
    if name.startswith("file:"):  # SQLite URI filename: file:/path/app.db?mode=ro
        name = name[5:].partition("?")[0]
    if "/" in name or "\\" in name:
        name = name.replace("\\", "/").rstrip("/").rpartition("/")[2]
    return None if name in _MEMORY or "mode=memory" in database else name


class Connection:
    """What every statement on one engine shares: system, database name, server."""

    __slots__ = ("attributes", "mode", "namespace", "system")

    def __init__(self, engine: Any, mode: str) -> None:
        url = engine.url
        dialect = str(engine.dialect.name)
        dialect = "postgresql" if dialect.startswith("postgres") else dialect
        old_system, new_system = _SYSTEMS.get(dialect, (dialect, dialect))
        self.mode = mode
        self.system = new_system if mode == NEW else old_system
        self.namespace = database_name(url.database)
        attributes: Attributes = {}
        if mode != NEW:
            attributes["db.system"] = old_system
            _put(attributes, "db.name", self.namespace)
            _put(attributes, "net.peer.name", url.host)
            _put(attributes, "net.peer.port", url.port)
        if mode != OLD:
            attributes["db.system.name"] = new_system
            _put(attributes, "db.namespace", self.namespace)
            _put(attributes, "server.address", url.host)
            _put(attributes, "server.port", url.port)
        self.attributes = attributes

    def span(self, operation: str, table: str | None, statement: str) -> tuple[str, Attributes]:
        """The span name and attributes of one statement (``operation`` ``other``:
        the verb is unknown, so no operation attribute)."""
        attributes = dict(self.attributes)
        known = operation != "other"
        if self.mode != NEW:
            attributes["db.statement"] = statement
            if known:
                attributes["db.operation"] = operation
            if table:
                attributes["db.sql.table"] = table
        if self.mode != OLD:
            attributes["db.query.text"] = statement
            if known:
                attributes["db.operation.name"] = operation
            if table:
                attributes["db.collection.name"] = table
        target = table or self.namespace
        if known:
            return (f"{operation} {target}" if target else operation), attributes
        return target or self.system, attributes


def _put(attributes: Attributes, key: str, value: str | int | None) -> None:
    if value is not None and value != "":
        attributes[key] = value
