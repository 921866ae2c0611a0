"""azora-otel: an OpenTelemetry distro for FastAPI + SQLAlchemy services.

Run a service under ``azora-otel-instrument``, or in code::

    import azora_otel
    azora_otel.configure()
    azora_otel.instrument_app(app)
"""

from azora_otel._db_api import db_query, track_db_query
from azora_otel._fastapi import instrument_app
from azora_otel._instruments import DEFAULT_VIEWS
from azora_otel._settings import Settings
from azora_otel._setup import (
    configure,
    get_metrics,
    get_performance_stats,
    shutdown,
)
from azora_otel._sqlalchemy import instrument_engine
from azora_otel._stats import PerformanceStats, Thresholds
from azora_otel._telemetry import Telemetry
from azora_otel._version import __version__

__all__ = [
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
