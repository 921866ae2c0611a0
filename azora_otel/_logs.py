"""Structured threshold-violation records on the stdlib logger ``azora_otel``.

Every record carries its fields in ``record.azora`` (a dict), so any handler can
ship them; the distro's own handler prints them as ``key=value`` text or as one
JSON object per line (``AZORA_LOG_FORMAT``). Either way one record is one line:
text values with spaces, quotes, ``=``, backslashes or any non-printable
character are quoted and escaped, tracebacks included.

**The application's logging configuration.** ``logging.config.dictConfig`` and
``fileConfig`` switch off every existing logger they do not name when
``disable_existing_loggers`` is true, their default (Alembic's ``env.py`` and
uvicorn's ``--log-config`` run them after the distro has started): slow-query
records would vanish while the counters keep counting. So the rule is:

- a configuration that *names* ``azora_otel`` is applied as written (level,
  handlers, propagation; ``disabled`` set by hand too): the logger is yours;
- one that does not name it cannot switch it off as a side effect: the
  ``disable_existing_loggers`` sweep passes over it (:class:`AzoraLogger`).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from types import FrameType
from typing import Any

from opentelemetry import trace

_HANDLER_NAME = "azora_otel"


class AzoraLogger(logging.Logger):
    """The ``azora_otel`` logger, which ``disable_existing_loggers`` does not disable.

    ``disabled`` is a property: the one assignment it ignores is ``True`` made by
    ``logging.config``'s sweep of the loggers a configuration does not name. A
    configuration that names the logger, or code that sets ``disabled``, is obeyed.
    """

    @property
    def disabled(self) -> bool:
        return bool(self.__dict__.get("_azora_disabled", False))

    @disabled.setter
    def disabled(self, value: bool) -> None:
        if value and _from_unnamed_logger_sweep():
            return
        self.__dict__["_azora_disabled"] = value


def _from_unnamed_logger_sweep() -> bool:
    """Whether the current assignment comes from ``logging.config``'s sweep of the
    existing loggers a new configuration does not name (dictConfig and fileConfig)."""
    config = sys.modules.get("logging.config")
    sweep = getattr(config, "_handle_existing_loggers", None)
    code = getattr(sweep, "__code__", None)
    if code is None:
        return False
    frame: FrameType | None = sys._getframe(1)  # the setter; its caller made the assignment
    for _ in range(3):
        frame = frame.f_back if frame is not None else None
        if frame is None:
            return False
        if frame.f_code is code:
            return True
    return False


def _own_logger() -> logging.Logger:
    found = logging.getLogger(_HANDLER_NAME)
    if not isinstance(found, AzoraLogger):
        with_state = found.__dict__
        disabled = bool(with_state.pop("disabled", False))
        found.__class__ = AzoraLogger
        with_state["_azora_disabled"] = disabled
    return found


logger = _own_logger()


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
    """One line per record: time (UTC, to the second), level, logger, then the record's
    fields as ``key=value``.

    ``2026-11-27T10:00:00Z WARNING azora_otel event=slow_request method=GET route=/x
    status_code=200 duration_ms=183.6 threshold_ms=100.0``. A float is written with one
    decimal from 1 up (``183.6``) and with six significant digits below (``0.000125``);
    any other value as ``str()`` gives it, unless that is empty or holds a space, ``"``,
    ``=``, ``\\`` or a non-printable character (newline, tab, escape sequences, Unicode
    line separators): then it is written as a JSON string (``json.loads`` gives the
    text back) whose non-printable characters are all ``\\uXXXX`` escapes. In a key,
    each of those characters becomes ``_``. A record without fields shows its message,
    non-printable characters escaped; an exception is appended as ``exception="..."``.
    """

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = getattr(record, "azora", None) or {}
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        parts = [f"{stamp}Z", record.levelname, _escape(record.name)]
        if fields:
            parts.extend(f"{_key(key)}={_text_value(value)}" for key, value in fields.items())
        else:
            parts.append(_escape(record.getMessage()))
        if record.exc_info:
            parts.append(f"exception={_quote(self.formatException(record.exc_info))}")
        return " ".join(parts)


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


def _unicode_escape(char: str) -> str:
    code = ord(char)
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000  # a JSON string spells astral characters as a surrogate pair
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def _escape(text: str) -> str:
    """``text`` with every non-printable character written as a ``\\uXXXX`` escape."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _unicode_escape(c) for c in text)


def _quote(text: str) -> str:
    """``text`` as a JSON string literal made of printable characters only."""
    return _escape(json.dumps(text, ensure_ascii=False))


def _text_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.1f}" if abs(value) >= 1 else f"{value:.6g}"
    text = str(value)
    if text and text.isprintable() and not any(c in text for c in ' "=\\'):
        return text
    return _quote(text)


def _key(key: object) -> str:
    text = str(key)
    if text and text.isprintable() and not any(c in text for c in ' "=\\'):
        return text
    return "".join("_" if c in ' "=\\' or not c.isprintable() else c for c in text) or "_"


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
