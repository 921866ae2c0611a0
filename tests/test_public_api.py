"""The public surface is small and deliberate: changing it must change this test."""

from __future__ import annotations

import azora_otel

PUBLIC = [
    "DEFAULT_VIEWS",
    "PerformanceStats",
    "Settings",
    "Telemetry",
    "Thresholds",
    "__version__",
    "configure",
    "db_query",
    "get_metrics",
    "get_performance_stats",
    "instrument_app",
    "instrument_engine",
    "shutdown",
    "track_db_query",
]


def test_all_is_frozen_and_sorted() -> None:
    assert azora_otel.__all__ == PUBLIC
    assert sorted(azora_otel.__all__) == azora_otel.__all__


def test_every_public_name_exists() -> None:
    for name in azora_otel.__all__:
        assert hasattr(azora_otel, name), name


def test_no_other_public_modules_are_advertised() -> None:
    public_modules = {
        name
        for name in dir(azora_otel)
        if not name.startswith("_") and name not in azora_otel.__all__
    }
    # submodules imported as a side effect are private (underscored) or the testing helper
    assert public_modules <= {"testing"}
