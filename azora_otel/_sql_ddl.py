"""The table of DDL and utility statements (``CREATE INDEX ... ON t``, ``LOCK t``...).

Each reader gets the tokens and the index right after the verb and returns the
table's name, or ``None`` when the statement is not about one table (``CREATE
SEQUENCE``, ``DROP INDEX name`` without ``ON``, ``VACUUM``, ``GRANT ... ON ALL
TABLES``). Indexes, triggers and policies name the table they belong to, never
themselves: an index name is not a table and must not take one of the model slots.
"""

from __future__ import annotations

from collections.abc import Callable

from azora_otel._sql_lex import (
    OPEN,
    Token,
    find_word,
    name_at,
    qualified_at,
    skip_balanced,
    skip_words,
)

_CREATE_MODIFIERS = frozenset(
    {
        "or",
        "replace",
        "temporary",
        "temp",
        "unlogged",
        "global",
        "local",
        "unique",
        "fulltext",
        "spatial",
        "constraint",
        "materialized",
        "virtual",
        "recursive",
    }
)
_IF_EXISTS = frozenset({"if", "not", "exists"})
_TABLE_OBJECTS = frozenset({"table", "view"})
"""Objects named like tables: the statement is about the name that follows."""
_ATTACHED_OBJECTS = frozenset({"index", "trigger", "policy"})
"""Objects that belong to a table: the statement is about the table after ``ON``."""
_NOT_A_TABLE = frozenset(
    {
        "all",
        "schema",
        "database",
        "function",
        "procedure",
        "routine",
        "sequence",
        "type",
        "domain",
        "language",
        "large",
        "foreign",
        "tablespace",
        "into",
        "main",
        "temp",
    }
)
"""Words where a table name could stand that name something else (SQLite's ``main``
and ``temp`` are schemas: ``VACUUM main``)."""

_Reader = Callable[[list[Token], int], "str | None"]


def _table_name(tokens: list[Token], i: int) -> str | None:
    i = skip_words(tokens, i, _IF_EXISTS)
    i = skip_words(tokens, i, frozenset({"only"}))
    name, _ = name_at(tokens, i)
    if name is None or (tokens[i][0] == "w" and name in _NOT_A_TABLE):
        return None
    return name


def _after_on(tokens: list[Token], i: int) -> str | None:
    """The table after the first top-level ``ON`` from ``i`` (``... ON [ONLY|TABLE] t``)."""
    j = find_word(tokens, i, "on")
    if j < 0:
        return None
    return _table_name(tokens, skip_words(tokens, j + 1, frozenset({"table"})))


def _object(tokens: list[Token], i: int) -> tuple[str, int]:
    """The object keyword (``table``, ``index``...) at ``i`` and the index after it."""
    if i < len(tokens) and tokens[i][0] == "w":
        return tokens[i][1], i + 1
    return "", i


def _create_alter_drop(tokens: list[Token], i: int) -> str | None:
    obj, i = _object(tokens, skip_words(tokens, i, _CREATE_MODIFIERS))
    if obj in _TABLE_OBJECTS:
        return _table_name(tokens, i)
    if obj in _ATTACHED_OBJECTS:
        return _after_on(tokens, i)
    return None


def _comment(tokens: list[Token], i: int) -> str | None:
    """``COMMENT ON TABLE t``, ``COMMENT ON COLUMN [schema.]t.c``."""
    if i >= len(tokens) or tokens[i] != ("w", "on"):
        return None
    obj, i = _object(tokens, skip_words(tokens, i + 1, frozenset({"materialized"})))
    if obj in _TABLE_OBJECTS:
        return _table_name(tokens, i)
    if obj == "column":
        parts, _ = qualified_at(tokens, i)
        return parts[-2] if len(parts) >= 2 else None
    if obj in _ATTACHED_OBJECTS:
        return _after_on(tokens, i)
    return None


def _lock(tokens: list[Token], i: int) -> str | None:
    """``LOCK [TABLE] [ONLY] t ...`` (PostgreSQL), ``LOCK TABLES t READ`` (MySQL)."""
    return _table_name(tokens, skip_words(tokens, i, frozenset({"table", "tables"})))


def _maintenance(tokens: list[Token], i: int) -> str | None:
    """``ANALYZE``/``VACUUM`` with options, then an optional table."""
    options = frozenset({"full", "freeze", "verbose", "analyze", "analyse"})
    i = skip_words(tokens, i, options)
    if i < len(tokens) and tokens[i] == OPEN:  # (VERBOSE, SKIP_LOCKED) option list
        i = skip_words(tokens, skip_balanced(tokens, i), options)
    return _table_name(tokens, i)


def _reindex(tokens: list[Token], i: int) -> str | None:
    """``REINDEX [(...)] TABLE [CONCURRENTLY] t``; an index or a bare name is not a table."""
    if i < len(tokens) and tokens[i] == OPEN:
        i = skip_balanced(tokens, i)
    obj, i = _object(tokens, i)
    if obj != "table":
        return None
    return _table_name(tokens, skip_words(tokens, i, frozenset({"concurrently"})))


def _refresh(tokens: list[Token], i: int) -> str | None:
    """``REFRESH MATERIALIZED VIEW [CONCURRENTLY] v``."""
    i = skip_words(tokens, i, frozenset({"materialized"}))
    obj, i = _object(tokens, i)
    if obj != "view":
        return None
    return _table_name(tokens, skip_words(tokens, i, frozenset({"concurrently"})))


def _grant(tokens: list[Token], i: int) -> str | None:
    """``GRANT|REVOKE ... ON [TABLE] t``; ``ON ALL TABLES``, ``ON SCHEMA`` are no table."""
    return _after_on(tokens, i)


READERS: dict[str, _Reader] = {
    "create": _create_alter_drop,
    "alter": _create_alter_drop,
    "drop": _create_alter_drop,
    "comment": _comment,
    "lock": _lock,
    "analyze": _maintenance,
    "analyse": _maintenance,
    "vacuum": _maintenance,
    "reindex": _reindex,
    "refresh": _refresh,
    "grant": _grant,
    "revoke": _grant,
}
"""Verb → reader of the table the statement is about."""
