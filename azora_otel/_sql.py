"""SQL statement → ``operation`` and ``model`` labels, bounded whatever SQL runs.

``operation`` is the statement's lower-case verb when it is one of
:data:`OPERATIONS`, else :data:`OTHER_OPERATION` (``other``). ``END`` is reported
as ``commit``, ``ABORT`` as ``rollback``, ``START TRANSACTION`` as ``begin``. A
``WITH`` query takes the verb of its main statement (``with x as (...) delete
from orders ...`` is a ``delete``), unless one of its CTEs writes: ``with d as
(delete from orders ... returning *) select * from d`` is a ``delete`` on
``orders``.

``model`` is the table the statement is about, lower-case, at most
:data:`MAX_LABEL_LENGTH` characters:

- ``select``: the first table of the outermost ``FROM`` (``select ... from orders
  join items ...`` → ``orders``); ``FROM (subquery)`` → the subquery's table; the
  ``FROM`` inside a function's parentheses (``extract(year from birthday)``,
  ``substring(s from 2)``, ``trim(both ' ' from s)``) or of ``IS DISTINCT FROM``
  names no table;
- ``insert into``/``replace into``/``merge into``, ``update``, ``delete from``,
  ``truncate``, ``copy t``, ``copy (query)``: the named (or queried) table;
- utility statements: ``lock t``, ``analyze t``, ``vacuum t``, ``reindex table
  t``, ``refresh materialized view t`` → ``t``; ``vacuum`` alone → ``unknown``;
- schema changes name the table they change: ``create|alter|drop table|view t``,
  ``create index|trigger|policy ... on t``, ``comment on column t.c``, ``grant ...
  on t`` → ``t``; ``drop index name`` without ``ON``, ``create sequence`` and
  ``create schema`` name none (``unknown``). A slow ``alter table`` on a big table is
  a classic migration incident: the label says which table;
- schema-qualified names keep the table only (``public.orders`` → ``orders``): the
  label says *which table*, the seed's "model"; two schemas holding tables of the
  same name share a series, which is the price of keeping the label short and
  free of per-tenant schema names;
- the scratch tables of migration tools are labelled with the table they stand for
  (:data:`TEMPORARY_TABLE_PREFIXES`: ``_alembic_tmp_orders`` → ``orders``);
- a CTE name is resolved to the table its body reads; anything else that cannot
  be told (``select 1``, ``select pg_sleep(1)``, ``from generate_series(...)``,
  ``begin``, ``pragma ...``) is :data:`UNKNOWN_MODEL` (``unknown``);
- once :data:`MAX_MODELS` distinct tables have been seen in the process, further
  new ones are reported as :data:`OVERFLOW_MODEL` (``_other``): applications that
  create tables with generated names cannot blow up the series count.

A string of several ``;``-separated statements is labelled by one of them: the
first that writes data or schema (``WRITE_OPERATIONS``), else the first that is
not transaction or session control (``begin``, ``set``...), else the first. So
``select 1; delete from orders`` is a ``delete`` on ``orders``: a read never hides
a write.

Parsing is a small tokenizer, not a SQL grammar: it never raises and the result of
each distinct statement string is cached (SQLAlchemy's statements repeat), so the
hot path is one dict lookup.
"""

from __future__ import annotations

import threading

from azora_otel._sql_lex import MAX_PARSED_CHARS, tokenize
from azora_otel._sql_statement import ALIASES, OPERATIONS, OTHER_OPERATION, read

__all__ = [
    "MAX_LABEL_LENGTH",
    "MAX_MODELS",
    "MAX_PARSED_CHARS",
    "OPERATIONS",
    "OTHER_OPERATION",
    "OVERFLOW_MODEL",
    "TEMPORARY_TABLE_PREFIXES",
    "UNKNOWN_MODEL",
    "bounded_model",
    "describe",
    "normalize_model",
    "normalize_operation",
    "parse",
    "truncate",
]

UNKNOWN_MODEL = "unknown"
"""``model`` when the statement names no table that can be told."""

OVERFLOW_MODEL = "_other"
"""``model`` of tables first seen after :data:`MAX_MODELS` distinct ones."""

MAX_LABEL_LENGTH = 64
MAX_MODELS = 500

TEMPORARY_TABLE_PREFIXES = ("_alembic_tmp_",)
"""Prefixes of the scratch tables migration tools make for one table and drop: the
label is the table they stand for (Alembic's SQLite batch mode copies ``x`` through
``_alembic_tmp_x``)."""

_CACHE_SIZE = 4096


def _clean(name: str) -> str:
    name = name.strip().lower()
    for prefix in TEMPORARY_TABLE_PREFIXES:
        if name.startswith(prefix) and len(name) > len(prefix):
            name = name[len(prefix) :]
    if not name.isprintable():
        name = "".join(c if c.isprintable() else "_" for c in name)
    return name[:MAX_LABEL_LENGTH]


_models: set[str] = set()
_models_lock = threading.Lock()


def bounded_model(name: str | None) -> str:
    """``name`` as a ``model`` label: cleaned, capped, within the process-wide table budget."""
    if not name:
        return UNKNOWN_MODEL
    name = _clean(name)
    if not name:
        return UNKNOWN_MODEL
    if name in _models or name in (UNKNOWN_MODEL, OVERFLOW_MODEL):
        return name
    with _models_lock:
        if len(_models) >= MAX_MODELS:
            return OVERFLOW_MODEL
        _models.add(name)
    return name


def normalize_operation(operation: object) -> str:
    """A caller-supplied operation as a label: a known verb, else ``other``."""
    if not isinstance(operation, str):
        return OTHER_OPERATION
    verb = operation.strip().lower()
    verb = ALIASES.get(verb, verb)
    return verb if verb in OPERATIONS else OTHER_OPERATION


def normalize_model(model: object) -> str:
    """A caller-supplied model as a label, bounded like parsed ones."""
    return bounded_model(model) if isinstance(model, str) else UNKNOWN_MODEL


Description = tuple[str, str, "str | None"]
"""``(operation, model, table)``: the two labels, and the table for spans."""

_cache: dict[str, Description] = {}


def _first_verb(statement: str) -> str:
    try:
        for kind, value in tokenize(statement):
            if kind == "p" and value == "(":
                continue
            verb = ALIASES.get(value, value)
            return verb if kind == "w" and verb in OPERATIONS else OTHER_OPERATION
    except Exception:  # noqa: BLE001
        return OTHER_OPERATION
    return OTHER_OPERATION


def parse(statement: object) -> tuple[str, str]:
    """``(operation, model)`` labels of a SQL statement. Never raises."""
    operation, model, _ = describe(statement)
    return operation, model


def describe(statement: object) -> Description:
    """``(operation, model, table)`` of a SQL statement, cached. Never raises.

    ``table`` is the table the statement is about, cleaned like a label but outside
    the label budget (``None`` when there is none): it names spans and equals
    ``model`` until the :data:`MAX_MODELS` budget is spent.
    """
    if not isinstance(statement, str):
        return OTHER_OPERATION, UNKNOWN_MODEL, None
    cached = _cache.get(statement)
    if cached is not None:
        return cached
    result: Description
    try:
        operation, name = read(tokenize(statement))
        table = _clean(name) if name else None
        result = operation, bounded_model(table), table or None
    except Exception:  # noqa: BLE001 - a label must never break a query (e.g. RecursionError)
        result = _first_verb(statement), UNKNOWN_MODEL, None
    if len(_cache) >= _CACHE_SIZE:
        _cache.clear()  # one-off statements (inlined literals) must not pin memory
    _cache[statement] = result
    return result


def truncate(statement: str, limit: int) -> str:
    """``statement`` cut to ``limit`` characters, marked when cut."""
    if len(statement) <= limit:
        return statement
    return statement[: max(0, limit - 14)] + "...[truncated]"
