"""The SQL tokenizer and the small token helpers the statement readers share.

Not a grammar: just enough to find verbs, names and balanced parentheses in
statements of any dialect. Strings, dollar-quoted bodies and comments are single
tokens, so a ``from`` inside them is never read as a keyword.
"""

from __future__ import annotations

import re

MAX_PARSED_CHARS = 16_384
"""Only this much of a statement is read (a table named later is ``unknown``)."""

Token = tuple[str, str]
"""``(kind, value)``: ``w`` word (lower-cased), ``q`` quoted identifier (unquoted),
``p`` punctuation among ``( ) , . ;``, ``x`` anything else (strings, numbers, operators)."""

OPEN: Token = ("p", "(")
CLOSE: Token = ("p", ")")
SEMICOLON: Token = ("p", ";")

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
_CLOSERS = {'"': '"', "`": "`", "[": "]"}

NOT_TABLES = frozenset(
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
"""Words that can follow ``FROM``/``INTO``/``ON`` without being a table name."""


def tokenize(sql: str) -> list[Token]:
    """The tokens of the first :data:`MAX_PARSED_CHARS` characters of ``sql``."""
    out: list[Token] = []
    append = out.append
    for match in _TOKEN.finditer(sql, 0, MAX_PARSED_CHARS):
        kind = match.lastgroup
        if kind == "word":
            append(("w", match.group().lower()))
        elif kind == "quoted":
            text = match.group()
            close = _CLOSERS[text[0]]
            inner = text[1:-1] if len(text) > 1 and text.endswith(close) else text[1:]
            append(("q", inner.replace(close * 2, close) if close != "]" else inner))
        elif kind == "punct":
            append(("p", match.group()))
        elif kind not in {"ws", "comment"}:
            append(("x", ""))
    return out


def skip_balanced(tokens: list[Token], i: int) -> int:
    """``tokens[i]`` is ``(``: the index after its matching ``)`` (or the end)."""
    depth = 0
    n = len(tokens)
    while i < n:
        tok = tokens[i]
        if tok == OPEN:
            depth += 1
        elif tok == CLOSE:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return n


def skip_words(tokens: list[Token], i: int, words: frozenset[str]) -> int:
    """The index of the first token from ``i`` on that is not one of ``words``."""
    n = len(tokens)
    while i < n and tokens[i][0] == "w" and tokens[i][1] in words:
        i += 1
    return i


def qualified_at(tokens: list[Token], i: int) -> tuple[list[str], int]:
    """The parts of a possibly qualified name (``a.b.c``) at ``i``, and the index after it.

    No parts when ``tokens[i]`` is not a name or is a keyword of :data:`NOT_TABLES`.
    """
    n = len(tokens)
    if i >= n:
        return [], i
    kind, value = tokens[i]
    if kind == "q" or (kind == "w" and value not in NOT_TABLES):
        parts = [value]
        i += 1
        while i + 1 < n and tokens[i] == ("p", ".") and tokens[i + 1][0] in ("w", "q"):
            parts.append(tokens[i + 1][1])
            i += 2
        return parts, i
    return [], i


def name_at(tokens: list[Token], i: int) -> tuple[str | None, int]:
    """The last part of a possibly qualified name at ``i`` (the table without its schema)."""
    parts, after = qualified_at(tokens, i)
    return (parts[-1] if parts else None), after


def find_word(tokens: list[Token], i: int, word: str) -> int:
    """Index of the first ``word`` from ``i`` on outside parentheses, or ``-1``."""
    n = len(tokens)
    target = ("w", word)
    while i < n:
        tok = tokens[i]
        if tok == target:
            return i
        if tok == OPEN:
            i = skip_balanced(tokens, i)
            continue
        i += 1
    return -1


def split_statements(tokens: list[Token]) -> list[list[Token]]:
    """The non-empty statements of a ``;``-separated string (outside parentheses)."""
    statements: list[list[Token]] = []
    start = 0
    depth = 0
    for i, tok in enumerate(tokens):
        if tok == OPEN:
            depth += 1
        elif tok == CLOSE:
            depth = max(0, depth - 1)
        elif tok == SEMICOLON and depth == 0:
            if i > start:
                statements.append(tokens[start:i])
            start = i + 1
    if start == 0:
        return [tokens] if tokens else []
    if start < len(tokens):
        statements.append(tokens[start:])
    return statements
