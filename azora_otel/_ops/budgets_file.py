"""Budgets files: other targets tables for ``azora-otel render`` and ``budget``.

A JSON or TOML file with up to three sections, each optional (a missing one
keeps the built-in table): ``api_latency_ms`` and ``db_query_ms`` (tables of
``p50``/``p95``/``p99`` rows, each with ``target``, ``warning``, ``critical``; a
``p95`` row is required, the alerts use it) and ``error_rate`` (one row).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path

from azora_otel._ops.targets import DEFAULT_TARGETS, Budget, Targets


class BudgetsFileError(ValueError):
    """A budgets file that cannot be used; the message names the section and the bad value."""


if sys.version_info >= (3, 11):
    import tomllib
else:  # the same parser, from PyPI (a dependency on Python 3.10)
    import tomli as tomllib


def _loads_toml(text: str) -> object:
    return tomllib.loads(text)


def _budget_rows(data: object, where: str) -> tuple[Budget, ...]:
    if not isinstance(data, Mapping):
        raise BudgetsFileError(f"{where}: expected a table of pNN rows, got {data!r}")
    rows = tuple(_budget(str(name), value, f"{where}.{name}") for name, value in data.items())
    if not any(row.metric == "p95" for row in rows):
        raise BudgetsFileError(f"{where}: a p95 row is required (the alerts use it)")
    for row in rows:
        _ = row.quantile  # validates the pNN name
    return tuple(sorted(rows, key=lambda r: r.quantile))


def _budget(metric: str, data: object, where: str) -> Budget:
    if not isinstance(data, Mapping) or set(data) != {"target", "warning", "critical"}:
        raise BudgetsFileError(f"{where}: expected keys target, warning, critical, got {data!r}")
    values: dict[str, float] = {}
    for key in ("target", "warning", "critical"):
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise BudgetsFileError(f"{where}.{key}: expected a number, got {value!r}")
        values[key] = float(value)
    return Budget(metric, **values)


def targets_from_mapping(data: Mapping[str, object]) -> Targets:
    """Build :class:`Targets` from a mapping; missing sections keep the defaults.

    Sections: ``api_latency_ms`` and ``db_query_ms`` (tables of ``p50``/``p95``/``p99``
    rows, each with ``target``, ``warning``, ``critical``) and ``error_rate`` (one row).
    """
    unknown = set(data) - {"api_latency_ms", "db_query_ms", "error_rate"}
    if unknown:
        raise BudgetsFileError(
            f"unknown budget sections {sorted(unknown)}; "
            "expected api_latency_ms, db_query_ms, error_rate"
        )
    targets = DEFAULT_TARGETS
    if "api_latency_ms" in data:
        api = _budget_rows(data["api_latency_ms"], "api_latency_ms")
        targets = Targets(api, targets.db_query, targets.error_rate)
    if "db_query_ms" in data:
        db = _budget_rows(data["db_query_ms"], "db_query_ms")
        targets = Targets(targets.api_latency, db, targets.error_rate)
    if "error_rate" in data:
        err = _budget("error_rate", data["error_rate"], "error_rate")
        targets = Targets(targets.api_latency, targets.db_query, err)
    return targets


def load_targets(path: str | Path | None) -> Targets:
    """Read a budgets file (``.json`` or ``.toml``); ``None`` gives the defaults."""
    if path is None:
        return DEFAULT_TARGETS
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".toml":
        data: object = _loads_toml(text)
    else:
        data = json.loads(text)
    if not isinstance(data, Mapping):
        raise BudgetsFileError(f"{path}: expected a table at the top level")
    return targets_from_mapping(data)
