"""Structured threshold-violation records on the stdlib logger ``azora_otel``.

Every record carries its fields in ``record.azora`` (a dict), so any handler can
ship them; the distro's own handler prints them as ``key=value`` text or as one
JSON object per line (``AZORA_LOG_FORMAT``).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from opentelemetry import trace

logger = logging.getLogger("azora_otel")

_HANDLER_NAME = "azora_otel"


def trace_ids() -> dict[str, str]:
    """The current trace and span ids, or nothing when no span is recording."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return {}
    return {
        "trace_id": format(context.trace_id, "032x"),
        "span_id": format(context.span_id, "016x"),
    }


def emit(level: int, event: str, message: str, fields: dict[str, Any]) -> None:
    """Log one structured record. Never raises into the caller."""
    try:
        if logger.isEnabledFor(level):
            logger.log(level, message, extra={"azora": {"event": event, **fields}})
    except Exception:  # noqa: BLE001 - a logging failure must not reach the request
        return


class TextFormatter(logging.Formatter):
    """``2026-11-27T10:00:00Z WARNING azora_otel slow_request method=GET route=/x ...``"""

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = getattr(record, "azora", None) or {}
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        parts = [f"{stamp}Z", record.levelname, record.name]
        if fields:
            parts.extend(f"{key}={_text_value(value)}" for key, value in fields.items())
        else:
            parts.append(record.getMessage())
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the record's fields."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        payload.update(getattr(record, "azora", None) or {})
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str, separators=(",", ":"))


def _text_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.1f}" if abs(value) >= 1 else f"{value:.6g}"
    text = str(value)
    return json.dumps(text) if (not text or any(c in text for c in ' "=')) else text


def install_handler(log_format: str) -> None:
    """Attach the distro's stderr handler to ``azora_otel`` (idempotent).

    ``off`` removes it, leaving the records to the application's logging setup.
    """
    for handler in list(logger.handlers):
        if handler.get_name() == _HANDLER_NAME:
            logger.removeHandler(handler)
    if log_format == "off":
        logger.propagate = True
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    logger.addHandler(handler)
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)
    logger.propagate = False


class RateLimitFilter(logging.Filter):
    """Lets the first record of each kind through, then at most one per ``interval_s``.

    Attached to the exporters' loggers: an unreachable collector must not flood the
    application's logs. The next record that passes says how many were held back.
    """

    def __init__(self, interval_s: float = 60.0, clock: Any = time.monotonic) -> None:
        super().__init__()
        self.interval_s = interval_s
        self._clock = clock
        self._last: dict[tuple[str, object], float] = {}
        self._suppressed: dict[tuple[str, object], int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.msg)
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last < self.interval_s:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return False
        self._last[key] = now
        held = self._suppressed.pop(key, 0)
        if held:
            record.msg = (
                f"{record.msg} ({held} similar messages suppressed "
                f"in the last {self.interval_s:g} s)"
            )
        return True


EXPORTER_LOGGERS: tuple[str, ...] = (
    "opentelemetry.exporter.otlp.proto.http.metric_exporter",
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.exporter.otlp.proto.http._log_exporter",
    "opentelemetry.exporter.otlp.proto.http._common",
    "opentelemetry.exporter.otlp.proto.grpc.exporter",
    "opentelemetry.exporter.otlp.proto.grpc.metric_exporter",
    "opentelemetry.exporter.otlp.proto.grpc.trace_exporter",
    "opentelemetry.sdk.metrics._internal.export",
    "opentelemetry.sdk.trace.export",
    "opentelemetry.sdk._shared_internal",
)


def rate_limit_exporter_logs(interval_s: float = 60.0) -> None:
    """Install one :class:`RateLimitFilter` on each exporter logger (idempotent)."""
    for name in EXPORTER_LOGGERS:
        target = logging.getLogger(name)
        if not any(isinstance(f, RateLimitFilter) for f in target.filters):
            target.addFilter(RateLimitFilter(interval_s))
