"""In-memory distro fixtures (no global state touched)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from azora_otel.testing import Capture, capture


@pytest.fixture
def cap() -> Iterator[Capture]:
    """A distro with default settings, tracing on, recording into memory."""
    with capture() as c:
        yield c
