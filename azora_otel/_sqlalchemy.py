"""SQLAlchemy: every statement timed, counted and (when tracing) given one CLIENT span.

Three engine events see every statement, sync and async alike (an ``AsyncEngine``
runs a plain ``Engine`` underneath, ``async_engine.sync_engine``), on SQLAlchemy
2.0 and 2.1:

- ``before_cursor_execute`` starts the clock (and the span) and stores them on the
  execution context;
- ``after_cursor_execute`` records ``success``;
- ``handle_error`` records ``error``; the exception reaches the application
  unchanged (the listener returns nothing and never raises).

:func:`instrument_every_engine` listens on the ``Engine`` class, so every engine of the
process is covered, including engines created after boot; :func:`instrument_engine`
covers one engine explicitly and may bind it to a given :class:`Telemetry`. When
both apply, the statement is recorded once.

Why not ``opentelemetry-instrumentation-sqlalchemy`` as it is (0.66b2, a declared
dependency of the distro, checked against it):

- it declares ``sqlalchemy >= 1.0.0, < 2.1.0``: under SQLAlchemy 2.1 the upstream
  loader skips it ("nothing can be instrumented") unless ``skip_dep_check=True``;
- it records no query-duration metric, so the contract's metrics need our own
  listeners anyway, and a second set of listeners per statement only to make the
  span costs a second timing, a second URL/cursor introspection and a second
  statement scan per query;
- its ``handle_error`` puts ``str(original_exception)`` into the span status: driver
  messages quote row values (PostgreSQL's ``DETAIL: Key (email)=(...)``), which the
  contract keeps out of spans;
- the async engine leaves spans unended (upstream issue 2149 in
  opentelemetry-python-contrib); see ``docs/database.md`` for what we measured.

So the span is made here, in the same three listeners as the metrics: started in
``before_cursor_execute``, ended in exactly one of ``after_cursor_execute`` or
``handle_error``. Statements run with ``skip_user_error_events`` (dialect-internal
probes whose failure would not reach ``handle_error``) get no span, so every span
started is ended. The span's name and attributes (:mod:`azora_otel._db_span`)
follow the database semantic conventions upstream emits by default, or the
stable ones under ``OTEL_SEMCONV_STABILITY_OPT_IN=database``, plus the table the
statement is about, which upstream does not set; the name is ``{operation}
{table}`` (upstream's ``{first word} {db.name}`` put a SQLite file's full path
in every span name). The statement is the one sent to the driver, with placeholders
(``?``, ``%(name)s``, ``$1``): bound parameter values never reach a span, a label
or a log record.
"""

from __future__ import annotations

import logging
import weakref
from time import perf_counter
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer
from sqlalchemy import event
from sqlalchemy.engine import Engine

from azora_otel import _state
from azora_otel._db import ERROR, SUCCESS
from azora_otel._db_span import Connection, semconv_mode
from azora_otel._sampling import SamplingGate, gate_of, reset_handoff, set_handoff
from azora_otel._sql import describe, truncate
from azora_otel._telemetry import Telemetry
from azora_otel._version import __version__

_log = logging.getLogger("azora_otel")

TRACER_NAME = "azora_otel.sqlalchemy"
MAX_SPAN_STATEMENT = 4096
"""``db.statement`` is cut to this many characters."""

_PENDING = "_azora_query"

_bound: weakref.WeakKeyDictionary[Engine, Telemetry] = weakref.WeakKeyDictionary()
_connections: weakref.WeakKeyDictionary[Engine, Connection] = weakref.WeakKeyDictionary()
_tracers: dict[int, tuple[Any, Tracer, SamplingGate | None]] = {}
_class_hooks = False


class _Pending:
    """One statement in flight."""

    __slots__ = ("model", "operation", "span", "start", "statement", "telemetry")

    def __init__(
        self,
        telemetry: Telemetry,
        operation: str,
        model: str,
        statement: str,
        span: trace.Span | None,
    ) -> None:
        self.telemetry = telemetry
        self.operation = operation
        self.model = model
        self.statement = statement
        self.span = span
        self.start = perf_counter()


def _tracer(telemetry: Telemetry) -> tuple[Tracer, SamplingGate | None] | None:
    """The tracer of ``telemetry``'s provider and its sampling gate; ``None`` without spans."""
    provider = telemetry.tracer_provider
    if provider is None:
        return None
    cached = _tracers.get(id(provider))
    if cached is not None and cached[0] is provider:
        return cached[1], cached[2]
    tracer = provider.get_tracer(TRACER_NAME, __version__)
    if len(_tracers) > 64:
        _tracers.clear()
    _tracers[id(provider)] = (provider, tracer, gate_of(provider))
    return tracer, gate_of(provider)


def _connection(engine: Engine, opt_in: frozenset[str]) -> Connection:
    """``engine``'s shared span attributes in the conventions ``opt_in`` asks for
    (``Settings.semconv_opt_in``), made once per engine and mode."""
    mode = semconv_mode(opt_in)
    conn = _connections.get(engine)
    if conn is None or conn.mode != mode:
        conn = _connections[engine] = Connection(engine, mode)
    return conn


def _start_span(  # noqa: PLR0917 - the hot path passes positionally
    tracer: Tracer,
    engine: Engine,
    operation: str,
    table: str | None,
    statement: str,
    opt_in: frozenset[str],
) -> trace.Span:
    name, attributes = _connection(engine, opt_in).span(
        operation, table, truncate(statement, MAX_SPAN_STATEMENT)
    )
    return tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attributes)


def _sampled_span(  # noqa: PLR0917 - the hot path passes positionally
    tracer: Tracer,
    gate: SamplingGate | None,
    engine: Engine,
    operation: str,
    table: str | None,
    statement: str,
    opt_in: frozenset[str],
) -> trace.Span | None:
    """The statement's span, or ``None`` when the sampler drops it (decided before any
    attribute is built: an unsampled query costs what metrics-only mode costs)."""
    if gate is None:
        return _start_span(tracer, engine, operation, table, statement, opt_in)
    parent = trace.get_current_span().get_span_context()
    if parent.is_valid:
        if not gate.child_sampled(parent):
            return None
        return _start_span(tracer, engine, operation, table, statement, opt_in)
    trace_id, sampled = gate.root_trace_id()
    if not sampled:
        return None
    token = set_handoff(trace_id)  # the SDK's sampler decides on the same trace id
    try:
        return _start_span(tracer, engine, operation, table, statement, opt_in)
    finally:
        reset_handoff(token)


def _before(
    conn: Any, _cursor: Any, statement: str, _params: Any, context: Any, _many: bool
) -> None:
    try:
        if context is None or getattr(context, _PENDING, None) is not None:
            return  # already timed by the other listener (class-level and per-engine)
        engine = conn.engine
        telemetry = _bound.get(engine) or _state.get_or_rebuild()
        if telemetry is None:
            return
        operation, model, table = describe(statement)
        span = None
        traced = _tracer(telemetry)
        if traced is not None and not context.execution_options.get(
            "skip_user_error_events", False
        ):
            opt_in = telemetry.settings.semconv_opt_in
            span = _sampled_span(*traced, engine, operation, table, statement, opt_in)
        setattr(context, _PENDING, _Pending(telemetry, operation, model, statement, span))
    except Exception:  # noqa: BLE001 - instrumentation never breaks a query
        _log.debug("azora-otel: before_cursor_execute failed", exc_info=True)


def _finish(pending: _Pending, status: str, error: BaseException | None) -> None:
    duration_ms = (perf_counter() - pending.start) * 1000.0
    span = pending.span
    recorder = pending.telemetry.queries
    try:
        if span is not None and duration_ms > recorder.threshold_ms:
            # The slow-query record carries this statement's span ids.
            with trace.use_span(span, end_on_exit=False):
                recorder.record(
                    pending.operation, pending.model, duration_ms, status, pending.statement
                )
        else:
            recorder.record(
                pending.operation, pending.model, duration_ms, status, pending.statement
            )
    finally:
        if span is not None:
            if error is not None:
                span.set_attribute("error.type", type(error).__qualname__)
                # The type only: driver messages may quote parameter values.
                span.set_status(Status(StatusCode.ERROR, type(error).__qualname__))
            span.end()


def _after(
    _conn: Any, _cursor: Any, _statement: str, _params: Any, context: Any, _many: bool
) -> None:
    try:
        pending: _Pending | None = getattr(context, _PENDING, None)
        if pending is None:
            return
        setattr(context, _PENDING, None)
        _finish(pending, SUCCESS, None)
    except Exception:  # noqa: BLE001 - instrumentation never breaks a query
        _log.debug("azora-otel: after_cursor_execute failed", exc_info=True)


def _handle_error(exception_context: Any) -> None:
    try:
        context = exception_context.execution_context
        pending: _Pending | None = getattr(context, _PENDING, None)
        if pending is None:
            return
        setattr(context, _PENDING, None)
        _finish(pending, ERROR, exception_context.original_exception)
    except Exception:  # noqa: BLE001 - the application gets its own exception, untouched
        _log.debug("azora-otel: handle_error failed", exc_info=True)


def _listen(target: Any) -> None:
    event.listen(target, "before_cursor_execute", _before)
    event.listen(target, "after_cursor_execute", _after)
    event.listen(target, "handle_error", _handle_error)


def instrument_every_engine() -> None:
    """Instrument every SQLAlchemy engine of the process, sync and async (idempotent)."""
    global _class_hooks  # noqa: PLW0603
    if _class_hooks:
        return
    _listen(Engine)
    _class_hooks = True


def uninstrument_every_engine() -> None:
    """Undo :func:`instrument_every_engine` (tests)."""
    global _class_hooks  # noqa: PLW0603
    if not _class_hooks:
        return
    event.remove(Engine, "before_cursor_execute", _before)
    event.remove(Engine, "after_cursor_execute", _after)
    event.remove(Engine, "handle_error", _handle_error)
    _class_hooks = False


def instrument_engine(engine: Any, telemetry: Telemetry | None = None) -> Any:
    """Instrument one engine (``Engine`` or ``AsyncEngine``) and return it.

    For engines created before or without ``azora-otel-instrument``. With
    ``telemetry`` the engine records into it; otherwise into the process-wide distro.
    Calling it again only rebinds ``telemetry``.
    """
    sync_engine: Engine = getattr(engine, "sync_engine", engine)
    if not isinstance(sync_engine, Engine):
        raise TypeError(f"expected a SQLAlchemy Engine or AsyncEngine, got {type(engine)!r}")
    if telemetry is not None:
        _bound[sync_engine] = telemetry
    if not event.contains(sync_engine, "before_cursor_execute", _before):
        _listen(sync_engine)
    return engine


def uninstrument_engine(engine: Any) -> None:
    """Undo :func:`instrument_engine` (tests)."""
    sync_engine: Engine = getattr(engine, "sync_engine", engine)
    _bound.pop(sync_engine, None)
    if event.contains(sync_engine, "before_cursor_execute", _before):
        event.remove(sync_engine, "before_cursor_execute", _before)
        event.remove(sync_engine, "after_cursor_execute", _after)
        event.remove(sync_engine, "handle_error", _handle_error)
