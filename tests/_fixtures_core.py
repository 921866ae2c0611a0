"""In-memory distro fixtures (no global state touched)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from azora_otel.testing import Capture, capture


@pytest.fixture
def cap() -> Iterator[Capture]:
    """A distro with default settings, tracing on, recording into memory."""
    with capture() as c:
        yield c


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def azora_records() -> Iterator[list[logging.LogRecord]]:
    """Live list of the ``azora_otel`` logger's records during the test."""
    logger = logging.getLogger("azora_otel")
    handler = _Collect()
    old_level, old_propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
        logger.propagate = old_propagate


@pytest.fixture(autouse=True)
def _loggers_left_enabled() -> Iterator[None]:
    """``logging.config.dictConfig``/``fileConfig`` (tests of migrations and log set-ups
    run them) disable every logger that exists at the time; a later test reading the
    SDK's warnings would find them silenced. Each test leaves the flags as it found them."""
    loggers = [
        logger
        for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    disabled = {logger: logger.disabled for logger in loggers}
    yield
    for logger, flag in disabled.items():
        logger.disabled = flag
