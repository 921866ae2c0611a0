"""How one environment variable is read: its row, the empty rule, the message for a bad one.

Every variable the distro reads is one :class:`Variable` of the table in
:mod:`azora_otel._variables`. A row's kind (:mod:`azora_otel._kinds`) turns the
variable's text into a value and says whether a value built in code is one the text
could have given: one rule and one ``expected`` phrase per kind, so a bad environment
and a bad ``Settings(...)`` are described alike.

Policy for bad text: **warn and use the default.** :meth:`Variable.read` reports
``invalid NAME='value': expected ...; using the default (...)`` and returns the
row's default; a kind that can keep the good part of a list (exporters, resource
attributes) says ``...; ignoring it`` instead.

Empty values: a value that is empty or only whitespace is **unset**, for every
variable, as OpenTelemetry specifies for its own (``OTEL_*``) and as a shell or a
container manifest most often produces (``VAR=`` from an unset ``${VAR}``). The one
exception are the exposition's three protection variables (``blank_is_unset=False``):
there "unset" means "no protection", and a blank token or network list is far more
often a secret or a setting that did not arrive than a wish to open the exposition, so
it is taken as given and locks the exposition (see :mod:`azora_otel._access`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from azora_otel._kinds import Invalid, Kind

T = TypeVar("T")


@dataclass(frozen=True)
class Variable(Generic[T]):
    """One row of the table: an environment variable and what it means."""

    name: str
    fields: tuple[str, ...]
    """The ``Settings`` fields it feeds (more than one, or shared with other rows, only
    where ``azora_otel._settings`` combines them)."""
    kind: Kind[T]
    default: T
    """The value when the variable is unset, blank or invalid."""
    doc: str
    """One line: the README's "meaning" column and the launcher's ``--help``."""
    default_doc: str | None = None
    """How the README and ``--help`` write the default, when not ``kind.show(default)``."""
    blank_is_unset: bool = True
    """The empty rule (see the module doc); ``False`` only for the protection variables."""
    secret: bool = False
    """Never echoed: ``check-config`` says only whether it is set."""

    def read(self, environ: Mapping[str, str], problems: list[str]) -> T:
        """The variable's value in ``environ``; each bad value adds one message to ``problems``."""
        raw = environ.get(self.name)
        if raw is None or (self.blank_is_unset and not raw.strip()):
            return self.default
        try:
            return self.kind.parse(raw)
        except Invalid as invalid:
            problems.append(self.problem(raw, invalid))
            return invalid.kept if invalid.keeps else self.default  # type: ignore[return-value]

    def problem(self, raw: str, invalid: Invalid) -> str:
        fallback = "ignoring it" if invalid.keeps else f"using the default ({self.shown_default})"
        shown = "<hidden>" if self.secret else repr(raw)
        return f"invalid {self.name}={shown}: {invalid.reason}; {fallback}"

    @property
    def shown_default(self) -> str:
        """The default as plain text (messages, ``--help``, ``check-config``)."""
        if self.default_doc is not None:
            return self.default_doc.replace("`", "")
        return "unset" if self.unset_by_default else self.kind.show(self.default)

    @property
    def unset_by_default(self) -> bool:
        """Whether the default is "nothing" (``None``, an empty list or set) and no rule
        (``default_doc``) says otherwise."""
        return self.default_doc is None and (
            self.default is None or self.default in ((), frozenset(), "")
        )


def check_fields(owner: object, kinds: Mapping[str, Kind[object]]) -> None:
    """Raise ``ValueError`` for the first field of ``owner`` (a dataclass built in code)
    whose value its kind could not have given: a programmer's error, named like a bad
    variable (``invalid Settings.error_rate_window_s=0: expected ...``)."""
    for name, kind in kinds.items():
        value = getattr(owner, name)
        try:
            ok = kind.valid(value)
        except TypeError:  # a foreign value (unhashable, uncomparable): not one of ours
            ok = False
        if not ok:
            raise ValueError(
                f"invalid {type(owner).__name__}.{name}={value!r}: expected {kind.expected_in_code}"
            )
