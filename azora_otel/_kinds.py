"""The kinds of value a variable holds: how its text is parsed, and how a value built in
code is checked, with one ``expected`` phrase for both.

Generic kinds (numbers, booleans, choices, names, entry points) are here; the ones only
the distro's own variables hold are in :mod:`azora_otel._distro_kinds`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from importlib.metadata import entry_points
from typing import Generic, TypeVar

T_co = TypeVar("T_co", covariant=True)

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


_NOTHING = object()


class Invalid(ValueError):
    """A text a kind cannot take: ``reason`` says why (``expected ...`` by default).

    ``kept`` (when given) is the usable part of a list, used instead of the default.
    """

    def __init__(self, reason: str, *, kept: object = _NOTHING) -> None:
        super().__init__(reason)
        self.reason = reason
        self.kept = kept

    @property
    def keeps(self) -> bool:
        return self.kept is not _NOTHING


class Kind(Generic[T_co]):
    """What a variable holds. Subclasses set ``expected`` and implement both checks."""

    expected = "a value"

    def parse(self, text: str) -> T_co:
        """The value of ``text`` (the variable as given, not blank); raises :class:`Invalid`."""
        raise NotImplementedError

    def valid(self, value: object) -> bool:
        """Whether ``value`` (a ``Settings`` field built in code) is one ``parse`` could give."""
        raise NotImplementedError

    def show(self, value: object) -> str:
        """``value`` as messages, ``--help`` and the README write it."""
        return str(value)

    @property
    def expected_in_code(self) -> str:
        """``expected`` for a value built in code, where it differs from the text's."""
        return self.expected

    def invalid(self) -> Invalid:
        return Invalid(f"expected {self.expected}")


@dataclass(frozen=True)
class Number(Kind[float]):
    """A finite decimal number above ``low`` (or from ``low`` when ``low_included``) up to
    ``high``."""

    expected: str = "a positive number"
    low: float = 0.0
    high: float = math.inf
    low_included: bool = False

    def parse(self, text: str) -> float:
        try:
            value = float(text.strip())
        except ValueError:
            raise self.invalid() from None
        if not self.valid(value):
            raise self.invalid()
        return value

    def valid(self, value: object) -> bool:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        above = value >= self.low if self.low_included else value > self.low
        return math.isfinite(value) and above and value <= self.high

    def show(self, value: object) -> str:
        return f"{value:g}" if isinstance(value, int | float) else str(value)


@dataclass(frozen=True)
class Integer(Kind[int]):
    """A whole number from ``low`` to ``high``."""

    low: int
    high: int

    @property
    def expected(self) -> str:  # type: ignore[override]
        return f"a whole number from {self.low} to {self.high}"

    def parse(self, text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise self.invalid() from None
        if not self.valid(value):
            raise self.invalid()
        return value

    def valid(self, value: object) -> bool:
        return (
            isinstance(value, int)
            and not isinstance(value, bool)
            and (self.low <= value <= self.high)
        )


class Boolean(Kind[bool]):
    expected = "true or false"
    expected_in_code = "True or False"

    def parse(self, text: str) -> bool:
        word = text.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
        raise self.invalid()

    def valid(self, value: object) -> bool:
        return isinstance(value, bool)

    def show(self, value: object) -> str:
        return str(value).lower()


@dataclass(frozen=True)
class Choice(Kind[str]):
    """One word of ``options``, in any case."""

    options: tuple[str, ...]

    @property
    def expected(self) -> str:  # type: ignore[override]
        return "one of " + ", ".join(self.options)

    def parse(self, text: str) -> str:
        word = text.strip().lower()
        if word not in self.options:
            raise self.invalid()
        return word

    def valid(self, value: object) -> bool:
        return value in self.options


class Text(Kind[str]):
    """Any text; surrounding whitespace is dropped."""

    expected = "a non-empty text"

    def parse(self, text: str) -> str:
        return text.strip()

    def valid(self, value: object) -> bool:
        return isinstance(value, str) and value.strip() == value and value != ""


class Raw(Kind[str]):
    """The text exactly as given (whitespace and all): checked where it is used."""

    expected = "a text"

    def parse(self, text: str) -> str:
        return text

    def valid(self, value: object) -> bool:
        return isinstance(value, str)


@dataclass(frozen=True)
class Names(Kind[frozenset[str]]):
    """A comma-separated set of names (empty items skipped), lower-cased when ``lower``."""

    lower: bool = False
    expected: str = "a comma-separated list of names"
    expected_in_code: str = "a frozenset of names"

    def parse(self, text: str) -> frozenset[str]:
        parts = (part.strip() for part in text.split(","))
        return frozenset(p.lower() if self.lower else p for p in parts if p)

    def valid(self, value: object) -> bool:
        return isinstance(value, frozenset) and all(
            isinstance(v, str) and v and v == v.strip() for v in value
        )

    def show(self, value: object) -> str:
        return ",".join(sorted(value)) if isinstance(value, frozenset) and value else "none"


@cache
def entry_point_names(group: str) -> frozenset[str]:
    """The names installed packages register under entry-point ``group`` (read once)."""
    return frozenset(e.name for e in entry_points(group=group))


@dataclass(frozen=True)
class EntryPoint(Kind[str]):
    """The name of an entry point some installed package registers under ``group``."""

    group: str
    what: str

    @property
    def expected(self) -> str:  # type: ignore[override]
        return f"the name of an installed {self.what}"

    def parse(self, text: str) -> str:
        name = text.strip()
        if name not in entry_point_names(self.group):
            known = ", ".join(sorted(entry_point_names(self.group))) or "none installed"
            raise Invalid(f"no installed {self.what} is called {name!r} (known: {known})")
        return name

    def valid(self, value: object) -> bool:
        return isinstance(value, str) and value in entry_point_names(self.group)


@dataclass(frozen=True)
class Maybe(Kind[T_co | None]):
    """``kind``'s values, or ``None`` (a field whose variable is unset by default)."""

    kind: Kind[T_co]

    @property
    def expected(self) -> str:  # type: ignore[override]
        return f"{self.kind.expected_in_code}, or None"

    def parse(self, text: str) -> T_co | None:
        return self.kind.parse(text)

    def valid(self, value: object) -> bool:
        return value is None or self.kind.valid(value)
