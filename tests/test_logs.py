"""Log output formats and the exporter-log rate limit."""

from __future__ import annotations

import io
import json
import logging

import pytest

from azora_otel._logs import JsonFormatter, RateLimitFilter, TextFormatter, emit, install_handler


def _record(**fields: object) -> logging.LogRecord:
    record = logging.LogRecord("azora_otel", logging.WARNING, __file__, 1, "slow request", (), None)
    record.azora = {"event": "slow_request", **fields}
    return record


def test_json_formatter_emits_one_object_with_the_fields() -> None:
    line = JsonFormatter().format(_record(method="GET", route="/x", duration_ms=150.5))
    payload = json.loads(line)
    assert payload["event"] == "slow_request"
    assert payload["method"] == "GET"
    assert payload["route"] == "/x"
    assert payload["duration_ms"] == 150.5
    assert payload["level"] == "warning"
    assert payload["logger"] == "azora_otel"
    assert payload["message"] == "slow request"
    assert payload["time"].endswith("Z")
    assert "\n" not in line


def test_text_formatter_is_key_value_and_quotes_spaces() -> None:
    line = TextFormatter().format(_record(route="/a b", duration_ms=150.25, method="GET"))
    assert " WARNING azora_otel event=slow_request " in line
    assert 'route="/a b"' in line
    assert "duration_ms=150.2" in line or "duration_ms=150.3" in line
    assert "method=GET" in line


@pytest.mark.parametrize(("fmt", "parse"), [("json", json.loads), ("text", str)])
def test_installed_handler_writes_to_stderr(
    fmt: str, parse: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    logger = logging.getLogger("azora_otel")
    saved = (logger.level, logger.propagate, list(logger.handlers))
    try:
        install_handler(fmt)
        emit(logging.WARNING, "slow_request", "slow request", {"route": "/x"})
    finally:
        install_handler("off")
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
    output = stream.getvalue().strip()
    assert output
    parsed = parse(output)  # type: ignore[operator]
    assert "slow_request" in str(parsed)


def test_off_leaves_records_to_the_application(monkeypatch: pytest.MonkeyPatch) -> None:
    install_handler("off")
    logger = logging.getLogger("azora_otel")
    assert all(h.get_name() != "azora_otel" for h in logger.handlers)
    assert logger.propagate


def test_rate_limit_lets_one_through_per_interval_and_counts_the_rest() -> None:
    now = [0.0]
    limit = RateLimitFilter(interval_s=60, clock=lambda: now[0])

    def rec(msg: str) -> logging.LogRecord:
        return logging.LogRecord("opentelemetry.x", logging.ERROR, __file__, 1, msg, (), None)

    assert limit.filter(rec("Failed to export"))
    assert not any(limit.filter(rec("Failed to export")) for _ in range(50))
    assert limit.filter(rec("another message"))  # a different message has its own budget
    now[0] = 61
    passed = rec("Failed to export")
    assert limit.filter(passed)
    assert "50 similar messages suppressed" in passed.getMessage()
