"""Shared fixtures. Fixture families live in ``tests/_fixtures_*.py`` modules."""

from __future__ import annotations

import importlib.util

pytest_plugins = [
    name
    for name in ("_fixtures_core", "_fixtures_postgres", "_fixtures_stack")
    if importlib.util.find_spec(name) is not None
]
