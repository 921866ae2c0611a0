"""SQL statement → ``operation`` and ``model`` labels, bounded whatever SQL runs.

``operation`` is the statement's lower-case verb when it is one of
:data:`OPERATIONS`, else :data:`OTHER_OPERATION` (``other``). A ``WITH`` query
takes the verb of its main statement (``with x as (...) delete from orders ...``
is a ``delete``).

``model`` is the table the statement is about, lower-case, at most
:data:`MAX_LABEL_LENGTH` characters:

- ``select``: the first table of the outermost ``FROM`` (``select ... from orders
  join items ...`` → ``orders``); ``FROM (subquery)`` → the subquery's table;
- ``insert into``/``replace into``/``merge into``, ``update``, ``delete from``,
  ``truncate``, ``create|alter|drop table``: the named table;
- schema-qualified names keep the table only (``public.orders`` → ``orders``): the
  label says *which table*, the seed's "model"; two schemas holding tables of the
  same name share a series, which is the price of keeping the label short and
  free of per-tenant schema names;
- a CTE name is resolved to the table its body reads; anything else that cannot
  be told (``select 1``, ``select pg_sleep(1)``, ``from generate_series(...)``,
  ``begin``) is :data:`UNKNOWN_MODEL` (``unknown``);
- once :data:`MAX_MODELS` distinct tables have been seen in the process, further
  new ones are reported as :data:`OVERFLOW_MODEL` (``_other``): applications that
  create tables with generated names cannot blow up the series count.

Parsing is a small tokenizer, not a SQL grammar: it never raises and the result of
each distinct statement string is cached (SQLAlchemy's statements repeat), so the
hot path is one dict lookup.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator

OTHER_OPERATION = "other"
"""``operation`` of statements whose verb is not in :data:`OPERATIONS`."""

UNKNOWN_MODEL = "unknown"
"""``model`` when the statement names no table that can be told."""

OVERFLOW_MODEL = "_other"
"""``model`` of tables first seen after :data:`MAX_MODELS` distinct ones."""

MAX_LABEL_LENGTH = 64
MAX_MODELS = 500
MAX_PARSED_CHARS = 16_384
"""Only this much of a statement is read (a table named later is ``unknown``)."""

OPERATIONS = frozenset(
    {
        "select",
        "insert",
        "update",
        "delete",
        "merge",
        "replace",
        "upsert",
        "create",
        "alter",
        "drop",
        "truncate",
        "begin",
        "commit",
        "rollback",
        "savepoint",
        "release",
        "set",
        "show",
        "explain",
        "pragma",
        "copy",
        "call",
        "lock",
        "grant",
        "revoke",
        "vacuum",
        "analyze",
    }
)
"""The verbs reported as themselves; ``with`` is resolved to its main statement's."""

_CACHE_SIZE = 4096

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<comment>--[^\n]*|/\*.*?(?:\*/|\Z))
  | (?P<string>'(?:[^']|'')*(?:'|\Z))
  | (?P<dollar>\$(?P<tag>[A-Za-z_]\w*)?\$.*?(?:\$(?P=tag)?\$|\Z))
  | (?P<quoted>"(?:[^"]|"")*(?:"|\Z)|`(?:[^`]|``)*(?:`|\Z)|\[[^\]]*(?:\]|\Z))
  | (?P<word>[^\W\d][\w$]*)
  | (?P<punct>[(),.;])
  | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)

# Token kinds: 'w' word (lower-cased), 'q' quoted identifier (unquoted), 'p' punctuation.
_Token = tuple[str, str]

_NOT_TABLES = frozenset(
    {
        "select",
        "lateral",
        "only",
        "where",
        "values",
        "unnest",
        "with",
        "table",
        "join",
        "on",
        "as",
        "set",
        "default",
        "dual",
    }
)


def _tokens(sql: str) -> Iterator[_Token]:
    for match in _TOKEN.finditer(sql, 0, MAX_PARSED_CHARS):
        kind = match.lastgroup
        if kind == "word":
            yield "w", match.group().lower()
        elif kind == "quoted":
            text = match.group()
            close = {'"': '"', "`": "`", "[": "]"}[text[0]]
            inner = text[1:-1] if len(text) > 1 and text.endswith(close) else text[1:]
            yield "q", inner.replace(close * 2, close) if close != "]" else inner
        elif kind == "punct":
            yield "p", match.group()
        elif kind not in {"ws", "comment"}:
            yield "x", ""


def _skip_balanced(tokens: list[_Token], i: int) -> int:
    """``tokens[i]`` is ``(``: the index after its matching ``)``."""
    depth = 0
    n = len(tokens)
    while i < n:
        tok = tokens[i]
        if tok == ("p", "("):
            depth += 1
        elif tok == ("p", ")"):
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return n


def _name_at(tokens: list[_Token], i: int) -> tuple[str | None, int]:
    """A possibly qualified name starting at ``i``: its last part and the index after it."""
    n = len(tokens)
    if i >= n:
        return None, i
    kind, value = tokens[i]
    if kind == "w" and value in _NOT_TABLES:
        return None, i
    if kind not in ("w", "q"):
        return None, i
    name = value
    i += 1
    while i + 1 < n and tokens[i] == ("p", ".") and tokens[i + 1][0] in ("w", "q"):
        name = tokens[i + 1][1]
        i += 2
    return name, i


def _skip_words(tokens: list[_Token], i: int, *words: str) -> int:
    while i < len(tokens) and tokens[i][0] == "w" and tokens[i][1] in words:
        i += 1
    return i


def _from_table(
    tokens: list[_Token], start: int, end: int, ctes: dict[str, list[_Token]]
) -> str | None:
    """The first table read after ``FROM`` in ``tokens[start:end]``, outermost first."""
    fallback: str | None = None
    depth = 0
    i = start
    while i < end:
        tok = tokens[i]
        if tok == ("p", "("):
            depth += 1
        elif tok == ("p", ")"):
            depth -= 1
        elif tok == ("w", "from") and i + 1 < end:
            j = _skip_words(tokens, i + 1, "only", "lateral")
            if j < end and tokens[j] == ("p", "("):  # FROM (subquery): its table
                close = _skip_balanced(tokens, j)
                inner = _from_table(tokens, j + 1, close - 1, ctes)
                if inner is not None:
                    return inner
                i = close
                continue
            name, after = _name_at(tokens, j)
            if name is not None and not (after < end and tokens[after] == ("p", "(")):
                if depth <= 0:
                    return _resolve(name, ctes)
                if fallback is None:
                    fallback = _resolve(name, ctes)
        i += 1
    return fallback


def _resolve(name: str, ctes: dict[str, list[_Token]]) -> str | None:
    """A table name, or the table a CTE of that name reads (``None``: cannot be told)."""
    body = ctes.get(name)
    if body is None:
        return name
    inner = ctes.copy()
    inner[name] = []  # a recursive CTE reading itself tells nothing: look past it
    _, model = _statement(body, 0, inner)
    return model


def _statement(
    tokens: list[_Token], i: int, ctes: dict[str, list[_Token]]
) -> tuple[str, str | None]:
    """Operation and table of the statement starting at ``tokens[i]``."""
    n = len(tokens)
    while i < n and tokens[i] == ("p", "("):  # (select ...) union ...
        i += 1
    if i >= n or tokens[i][0] != "w":
        return OTHER_OPERATION, None
    verb = tokens[i][1]
    if verb == "with":
        return _with(tokens, i + 1, ctes)
    operation = verb if verb in OPERATIONS else OTHER_OPERATION
    i += 1
    name: str | None = None
    if verb == "select":
        return operation, _from_table(tokens, i, n, ctes)
    if verb in ("insert", "replace", "merge", "upsert"):
        i = _skip_words(
            tokens,
            i,
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
        )
        name, _ = _name_at(tokens, i)
    elif verb == "update":
        i = _skip_words(
            tokens,
            i,
            "only",
            "or",
            "replace",
            "ignore",
            "abort",
            "fail",
            "rollback",
            "low_priority",
        )
        name, _ = _name_at(tokens, i)
    elif verb == "delete":
        return operation, _from_table(tokens, i, n, ctes)
    elif verb == "truncate":
        i = _skip_words(tokens, i, "table", "only")
        name, _ = _name_at(tokens, i)
    elif verb in ("create", "alter", "drop"):
        i = _skip_words(
            tokens, i, "or", "replace", "temporary", "temp", "unlogged", "global", "local"
        )
        if i < n and tokens[i] == ("w", "table"):
            i = _skip_words(tokens, i + 1, "if", "not", "exists", "only")
            name, _ = _name_at(tokens, i)
    if name is not None:
        name = _resolve(name, ctes)
    return operation, name


def _with(tokens: list[_Token], i: int, outer: dict[str, list[_Token]]) -> tuple[str, str | None]:
    ctes = dict(outer)
    n = len(tokens)
    i = _skip_words(tokens, i, "recursive")
    while i < n:
        name, i = _name_at(tokens, i)
        if name is None:
            return OTHER_OPERATION, None
        if i < n and tokens[i] == ("p", "("):  # column list
            i = _skip_balanced(tokens, i)
        i = _skip_words(tokens, i, "as", "not", "materialized")
        if i >= n or tokens[i] != ("p", "("):
            return OTHER_OPERATION, None
        close = _skip_balanced(tokens, i)
        ctes[name] = tokens[i + 1 : close - 1]
        i = close
        if i < n and tokens[i] == ("p", ","):
            i += 1
            continue
        break
    return _statement(tokens, i, ctes)


def _clean(name: str) -> str:
    name = name.strip().lower()
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
    return verb if verb in OPERATIONS else OTHER_OPERATION


def normalize_model(model: object) -> str:
    """A caller-supplied model as a label, bounded like parsed ones."""
    return bounded_model(model) if isinstance(model, str) else UNKNOWN_MODEL


_cache: dict[str, tuple[str, str]] = {}


def _first_verb(statement: str) -> str:
    try:
        for kind, value in _tokens(statement):
            if kind == "p" and value == "(":
                continue
            return value if kind == "w" and value in OPERATIONS else OTHER_OPERATION
    except Exception:  # noqa: BLE001
        return OTHER_OPERATION
    return OTHER_OPERATION


def parse(statement: object) -> tuple[str, str]:
    """``(operation, model)`` of a SQL statement. Never raises."""
    if not isinstance(statement, str):
        return OTHER_OPERATION, UNKNOWN_MODEL
    cached = _cache.get(statement)
    if cached is not None:
        return cached
    try:
        operation, name = _statement(list(_tokens(statement)), 0, {})
        result = operation, bounded_model(name)
    except Exception:  # noqa: BLE001 - a label must never break a query (e.g. RecursionError)
        result = _first_verb(statement), UNKNOWN_MODEL
    if len(_cache) >= _CACHE_SIZE:
        _cache.clear()  # one-off statements (inlined literals) must not pin memory
    _cache[statement] = result
    return result


def truncate(statement: str, limit: int) -> str:
    """``statement`` cut to ``limit`` characters, marked when cut."""
    if len(statement) <= limit:
        return statement
    return statement[: max(0, limit - 14)] + "...[truncated]"
