"""Shared fixtures. Fixture families live in ``tests/_fixtures_*.py`` modules."""

from __future__ import annotations

pytest_plugins = ["_fixtures_core", "_fixtures_postgres"]
