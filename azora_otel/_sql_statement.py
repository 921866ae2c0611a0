"""Reading one SQL string: its operation and the table it is about.

The rules are documented in :mod:`azora_otel._sql` and ``docs/database.md``; this
module implements them over the tokens of :mod:`azora_otel._sql_lex`.
"""

from __future__ import annotations

from azora_otel._sql_ddl import READERS
from azora_otel._sql_lex import (
    CLOSE,
    OPEN,
    Token,
    name_at,
    skip_balanced,
    skip_words,
    split_statements,
)

OTHER_OPERATION = "other"
"""``operation`` of statements whose verb is not in :data:`OPERATIONS`."""

WRITE_OPERATIONS = frozenset(
    {
        "insert",
        "update",
        "delete",
        "merge",
        "replace",
        "upsert",
        "truncate",
        "copy",
        "create",
        "alter",
        "drop",
        "comment",
        "grant",
        "revoke",
        "refresh",
        "reindex",
    }
)
"""Verbs that change data or schema: in a multi-statement string they win."""

CONTROL_OPERATIONS = frozenset({"begin", "commit", "rollback", "savepoint", "release", "set"})
"""Transaction and session control: in a multi-statement string they lose."""

OPERATIONS = (
    WRITE_OPERATIONS
    | CONTROL_OPERATIONS
    | {
        "select",
        "show",
        "explain",
        "pragma",
        "call",
        "lock",
        "vacuum",
        "analyze",
    }
)
"""The verbs reported as themselves; ``with`` is resolved to its main statement's."""

ALIASES = {"end": "commit", "abort": "rollback", "analyse": "analyze"}
"""Verbs reported as their synonym (SQLite's and PostgreSQL's ``END`` is ``COMMIT``)."""

_DML_WRITES = frozenset({"insert", "update", "delete", "merge"})
_INSERT_MODIFIERS = frozenset(
    {
        "or",
        "replace",
        "ignore",
        "abort",
        "fail",
        "rollback",
        "low_priority",
        "delayed",
        "high_priority",
        "into",
        "only",
    }
)

Result = tuple[str, "str | None"]
_Ctes = dict[str, list[Token]]


def read(tokens: list[Token]) -> Result:
    """Operation and table of a string of one or more ``;``-separated statements.

    Several statements: the first that writes (:data:`WRITE_OPERATIONS`) wins, else
    the first that is not transaction or session control, else the first one; a
    read never hides a write.
    """
    statements = split_statements(tokens)
    if len(statements) == 1:
        return _statement(statements[0], 0, {})
    best: Result = (OTHER_OPERATION, None)
    best_rank = -1
    for tokens_ in statements:
        result = _statement(tokens_, 0, {})
        operation = result[0]
        rank = 2 if operation in WRITE_OPERATIONS else 0 if operation in CONTROL_OPERATIONS else 1
        if rank > best_rank:
            best, best_rank = result, rank
            if rank == 2:
                break
    return best


def _from_table(tokens: list[Token], start: int, end: int, ctes: _Ctes) -> str | None:
    """The first table read after ``FROM`` in ``tokens[start:end]``, outermost first.

    A ``FROM`` inside a function's parentheses (``extract(year from d)``,
    ``substring(s from 2)``, ``trim(both ' ' from s)``) and ``IS [NOT] DISTINCT
    FROM`` read no table; a ``FROM`` in a subquery is used when the outermost
    statement reads none.
    """
    fallback: str | None = None
    query_parens: list[bool] = []  # one per open parenthesis: does it hold a query?
    i = start
    while i < end:
        tok = tokens[i]
        if tok == OPEN:
            nxt = tokens[i + 1] if i + 1 < end else CLOSE
            query_parens.append(nxt in (("w", "select"), ("w", "with"), OPEN))
        elif tok == CLOSE:
            if query_parens:
                query_parens.pop()
        elif tok == ("w", "from") and i + 1 < end:
            if query_parens and not query_parens[-1]:
                i += 1
                continue
            if i >= 1 and tokens[i - 1] == ("w", "distinct"):
                i += 1
                continue
            j = skip_words(tokens, i + 1, frozenset({"only", "lateral"}))
            if j < end and tokens[j] == OPEN:  # FROM (subquery): its table
                close = skip_balanced(tokens, j)
                inner = _from_table(tokens, j + 1, close - 1, ctes)
                if inner is not None:
                    return inner
                i = close
                continue
            name, after = name_at(tokens, j)
            if name is not None and not (after < end and tokens[after] == OPEN):
                if not query_parens:
                    return _resolve(name, ctes)
                if fallback is None:
                    fallback = _resolve(name, ctes)
        i += 1
    return fallback


def _resolve(name: str, ctes: _Ctes) -> str | None:
    """A table name, or the table a CTE of that name reads (``None``: cannot be told)."""
    body = ctes.get(name)
    if body is None:
        return name
    inner = ctes.copy()
    inner[name] = []  # a recursive CTE reading itself tells nothing: look past it
    _, model = _statement(body, 0, inner)
    return model


def _statement(tokens: list[Token], i: int, ctes: _Ctes) -> Result:
    """Operation and table of the statement starting at ``tokens[i]``."""
    n = len(tokens)
    while i < n and tokens[i] == OPEN:  # (select ...) union ...
        i += 1
    if i >= n or tokens[i][0] != "w":
        return OTHER_OPERATION, None
    verb = ALIASES.get(tokens[i][1], tokens[i][1])
    i += 1
    if verb == "with":
        return _with(tokens, i, ctes)
    if verb == "start" and i < n and tokens[i] == ("w", "transaction"):
        return "begin", None
    return (verb if verb in OPERATIONS else OTHER_OPERATION), _target(verb, tokens, i, ctes)


def _target(verb: str, tokens: list[Token], i: int, ctes: _Ctes) -> str | None:
    """The table of a statement whose verb is ``verb``; ``tokens[i]`` follows the verb."""
    if verb in ("select", "delete"):
        return _from_table(tokens, i, len(tokens), ctes)
    reader = READERS.get(verb)
    if reader is not None:
        return reader(tokens, i)
    name: str | None = None
    if verb in ("insert", "replace", "merge", "upsert", "update"):
        name, _ = name_at(tokens, skip_words(tokens, i, _INSERT_MODIFIERS))
    elif verb == "truncate":
        name, _ = name_at(tokens, skip_words(tokens, i, frozenset({"table", "only"})))
    elif verb == "copy":
        i = skip_words(tokens, i, frozenset({"binary"}))
        if i < len(tokens) and tokens[i] == OPEN:  # COPY (query) TO ...
            return _statement(tokens[i + 1 : skip_balanced(tokens, i) - 1], 0, ctes)[1]
        name, _ = name_at(tokens, i)
    return None if name is None else _resolve(name, ctes)


def _with(tokens: list[Token], i: int, outer: _Ctes) -> Result:
    """``WITH`` query: its main statement, unless a CTE writes (``WITH x AS (DELETE ...)
    SELECT ...`` is a ``delete``: a read never hides a write)."""
    ctes = dict(outer)
    n = len(tokens)
    i = skip_words(tokens, i, frozenset({"recursive"}))
    writer: Result | None = None
    while i < n:
        name, i = name_at(tokens, i)
        if name is None:
            return OTHER_OPERATION, None
        if i < n and tokens[i] == OPEN:  # column list
            i = skip_balanced(tokens, i)
        i = skip_words(tokens, i, frozenset({"as", "not", "materialized"}))
        if i >= n or tokens[i] != OPEN:
            return OTHER_OPERATION, None
        close = skip_balanced(tokens, i)
        body = tokens[i + 1 : close - 1]
        ctes[name] = body
        if writer is None and body and body[0][0] == "w" and body[0][1] in _DML_WRITES:
            writer = _statement(body, 0, outer)
        i = close
        if i < n and tokens[i] == ("p", ","):
            i += 1
            continue
        break
    result = _statement(tokens, i, ctes)
    if writer is not None and result[0] not in WRITE_OPERATIONS:
        return writer
    return result
