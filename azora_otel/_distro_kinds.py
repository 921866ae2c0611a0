"""The kinds of value only this distro's variables hold: the exposition's path, exporter
lists, resource attributes and detectors, the rule for other meters' metrics.

Generic kinds (numbers, booleans, choices, names) are in :mod:`azora_otel._kinds`.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

from azora_otel._kinds import Invalid, Kind, entry_point_names

Pairs = tuple[tuple[str, str], ...]


class MetricsPath(Kind[str | None]):
    """An absolute URL path (no query, fragment or whitespace), or ``off`` (``None``)."""

    expected = "an absolute path such as /metrics, or off"
    expected_in_code = "an absolute path such as '/metrics', or None"

    def parse(self, text: str) -> str | None:
        value = text.strip()
        if value.lower() in {"off", "none", "false"}:
            return None
        if not self.valid(value):
            raise self.invalid()
        return value

    def valid(self, value: object) -> bool:
        if value is None:
            return True
        return (
            isinstance(value, str)
            and value.startswith("/")
            and not any(c.isspace() or c in "?#" for c in value)
        )

    def show(self, value: object) -> str:
        return "off" if value is None else str(value)


@dataclass(frozen=True)
class Exporters(Kind[tuple[str, ...]]):
    """Comma-separated exporter names of ``signal`` (``none``: no exporter).

    Known names are those the upstream configurator resolves: ``otlp``, and every
    entry point of ``opentelemetry_{signal}_exporter``. Unknown names are reported;
    the known ones given with them still apply.
    """

    signal: str
    example: str

    @property
    def expected(self) -> str:  # type: ignore[override]
        return f"a comma-separated list such as {self.example}"

    @property
    def expected_in_code(self) -> str:
        return "a tuple of installed exporter names, each once, such as ('otlp',)"

    def built_in(self) -> frozenset[str]:
        """Names the distro resolves itself (``prometheus``: its own exposition)."""
        return frozenset({"otlp", "prometheus"} if self.signal == "metrics" else {"otlp"})

    def known(self) -> frozenset[str]:
        return entry_point_names(f"opentelemetry_{self.signal}_exporter") | self.built_in()

    def parse(self, text: str) -> tuple[str, ...]:
        names = tuple(dict.fromkeys(p.strip().lower() for p in text.split(",") if p.strip()))
        if not names:
            raise self.invalid()
        if "none" in names:
            return ()
        known = self.known()
        unknown = [n for n in names if n not in known]
        if not unknown:
            return names
        reason = (
            "no installed exporter is called "
            + ", ".join(repr(n) for n in unknown)
            + f" (known: {', '.join(sorted(known | {'none'}))})"
        )
        kept = tuple(n for n in names if n in known)
        raise Invalid(reason, kept=kept) if kept else Invalid(reason)

    def valid(self, value: object) -> bool:
        if not isinstance(value, tuple) or not all(isinstance(n, str) for n in value):
            return False
        if len(set(value)) != len(value):
            return False
        if set(value) <= self.built_in():  # the defaults: no entry-point scan at start-up
            return True
        return set(value) <= self.known()

    def show(self, value: object) -> str:
        return ",".join(value) if isinstance(value, tuple) and value else "none"


class ResourceAttributes(Kind[Pairs]):
    """``key=value`` pairs separated by commas, values percent-decoded (the SDK's rule).

    A later pair replaces an earlier one with the same key. An item without ``=`` or
    without a key is reported and skipped; the other pairs still apply.
    """

    expected = "comma-separated key=value pairs"
    expected_in_code = "a tuple of (key, value) pairs of text"

    def parse(self, text: str) -> Pairs:
        pairs: dict[str, str] = {}
        bad: list[str] = []
        for item in text.split(","):
            key, sep, value = item.partition("=")
            if not item.strip():
                continue
            if not sep or not key.strip():
                bad.append(item.strip())
                continue
            pairs[key.strip()] = unquote(value.strip())
        if bad:
            reason = ", ".join(repr(b) for b in bad) + " is not a key=value pair"
            raise Invalid(reason, kept=tuple(pairs.items())) if pairs else Invalid(reason)
        if not pairs:
            raise self.invalid()
        return tuple(pairs.items())

    def valid(self, value: object) -> bool:
        return isinstance(value, tuple) and all(
            isinstance(p, tuple)
            and len(p) == 2
            and isinstance(p[0], str)
            and p[0].strip() == p[0] != ""
            and isinstance(p[1], str)
            for p in value
        )

    def show(self, value: object) -> str:
        if not isinstance(value, tuple) or not value:
            return "none"
        return ",".join(f"{k}={v}" for k, v in value)


class Detectors(Kind[tuple[str, ...]]):
    """Names of installed resource detectors (``*``: every one), in merge order."""

    expected = "a comma-separated list of resource detector names"
    expected_in_code = "a tuple of installed resource detector names"
    group = "opentelemetry_resource_detector"

    def known(self) -> frozenset[str]:
        return entry_point_names(self.group) | {"*"}

    def parse(self, text: str) -> tuple[str, ...]:
        names = tuple(dict.fromkeys(p.strip() for p in text.split(",") if p.strip()))
        if not names:
            raise self.invalid()
        unknown = [n for n in names if n not in self.known()]
        if not unknown:
            return names
        reason = (
            "no installed resource detector is called "
            + ", ".join(repr(n) for n in unknown)
            + f" (known: {', '.join(sorted(self.known()))})"
        )
        kept = tuple(n for n in names if n not in unknown)
        raise Invalid(reason, kept=kept) if kept else Invalid(reason)

    def valid(self, value: object) -> bool:
        return isinstance(value, tuple) and all(n in self.known() for n in value)

    def show(self, value: object) -> str:
        return ",".join(value) if isinstance(value, tuple) and value else "none"


class MeterRule(Kind[str]):
    """``drop``, ``keep``, or meter names separated by commas (kept in order, once each)."""

    expected = "drop, keep or a comma-separated list of meter names"

    def parse(self, text: str) -> str:
        word = text.strip()
        if word.lower() in {"drop", "keep"}:
            return word.lower()
        names = [part.strip() for part in word.split(",") if part.strip()]
        if not names:
            raise self.invalid()
        return ",".join(dict.fromkeys(names))

    def valid(self, value: object) -> bool:
        if not isinstance(value, str) or not value:
            return False
        parts = value.split(",")
        return all(p and p == p.strip() for p in parts) and len(set(parts)) == len(parts)


@dataclass(frozen=True)
class InstanceOf(Kind[object]):
    """A value of ``cls`` (fields built from several variables; ``cls`` checks itself)."""

    cls: type
    expected: str = "an instance of the field's class"

    def parse(self, text: str) -> object:  # pragma: no cover - never read from text
        raise self.invalid()

    def valid(self, value: object) -> bool:
        return isinstance(value, self.cls)


class Signals(Kind[frozenset[str]]):
    """A subset of the two exported signals, ``traces`` and ``metrics``."""

    expected = "a set of signals among traces, metrics"

    def parse(self, text: str) -> frozenset[str]:  # pragma: no cover - never read from text
        raise self.invalid()

    def valid(self, value: object) -> bool:
        return isinstance(value, frozenset) and value <= {"traces", "metrics"}
