"""Database query metrics: the recorder every DB path goes through.

Both the SQLAlchemy hooks and the manual API (:func:`track_db_query`,
:func:`db_query`) end here, so the metrics and the slow-query logic are the same
whatever produced the measurement.
"""

from __future__ import annotations

import functools
import inspect
import logging
import math
import threading
from collections.abc import Callable
from time import perf_counter
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, cast

from azora_otel._instruments import DB_DURATION_BUCKETS_MS, Instruments
from azora_otel._logs import emit, trace_ids
from azora_otel._sql import normalize_model, normalize_operation, truncate
from azora_otel._stats import BucketCounts

if TYPE_CHECKING:
    from azora_otel._telemetry import Telemetry

SUCCESS = "success"
ERROR = "error"
STATUSES = frozenset({SUCCESS, ERROR})
MAX_LOGGED_STATEMENT = 1024
"""The slow-query record's ``statement`` is cut to this many characters."""
_MAX_CACHED_LABEL_SETS = 10_000
_log = logging.getLogger("azora_otel")


class QueryRecorder:
    """Turns one finished query into the contract's measurements."""

    def __init__(self, instruments: Instruments, threshold_ms: float) -> None:
        self._duration = instruments.query_duration.record
        self._counts = instruments.queries
        self._queries = instruments.queries.add
        self._slow = instruments.slow_queries.add
        self.threshold_ms = threshold_ms
        self.histogram = BucketCounts(DB_DURATION_BUCKETS_MS)
        self.slow = 0
        # Queries run on many threads (sync routes use a thread pool): the stats-only
        # fields below are updated under this lock; the counts themselves are exact
        # in ``instruments.queries``.
        self._stats_lock = threading.Lock()
        self._labels: dict[tuple[str, str], dict[str, str]] = {}
        self._labels_with_status: dict[tuple[str, str, str], dict[str, str]] = {}

    @property
    def total(self) -> int:
        """Queries recorded so far."""
        return sum(self._counts.totals().values())

    @property
    def errors(self) -> int:
        """Queries recorded with a status other than ``success``."""
        totals = cast("dict[tuple[str, str, str], int]", self._counts.totals())
        return sum(n for (_, _, status), n in totals.items() if status != SUCCESS)

    def record(
        self,
        operation: str,
        model: str,
        duration_ms: float,
        status: str,
        statement: str | None = None,
    ) -> None:
        key = (operation, model)
        labels = self._labels.get(key)
        if labels is None:
            labels = {"operation": operation, "model": model}
            if len(self._labels) < _MAX_CACHED_LABEL_SETS:
                self._labels[key] = labels
        skey = (operation, model, status)
        with_status = self._labels_with_status.get(skey)
        if with_status is None:
            with_status = {"operation": operation, "model": model, "status": status}
            if len(self._labels_with_status) < _MAX_CACHED_LABEL_SETS:
                self._labels_with_status[skey] = with_status
        self._duration(duration_ms, labels)
        self._queries(skey, with_status)
        slow = duration_ms > self.threshold_ms
        with self._stats_lock:
            self.histogram.observe(duration_ms)
            if slow:
                self.slow += 1
        if slow:
            self._slow(1, labels)
            fields: dict[str, object] = {
                "operation": operation,
                "model": model,
                "status": status,
                "duration_ms": round(duration_ms, 3),
                "threshold_ms": self.threshold_ms,
                **trace_ids(),
            }
            if statement is not None:
                fields["statement"] = truncate(statement, MAX_LOGGED_STATEMENT)
            emit(logging.WARNING, "slow_query", "slow query", fields)


def _current(telemetry: Telemetry | None) -> Telemetry | None:
    if telemetry is not None:
        return telemetry
    from azora_otel import _state  # noqa: PLC0415 - _state imports this module

    return _state.get()


def track_db_query(
    operation: str,
    model: str,
    duration_ms: float,
    status: str = SUCCESS,
    *,
    telemetry: Telemetry | None = None,
) -> None:
    """Record one query timed by the caller (the seed's ``trackDbQuery``).

    For databases not behind SQLAlchemy. ``operation`` and ``model`` are bounded
    like the parsed labels (an unknown verb becomes ``other``; a blank model
    ``unknown``); ``status`` is ``success`` or ``error`` (anything else counts as
    ``error``). Same metrics and slow-query logic as instrumented engines. Does
    nothing when the distro is not configured; never raises.
    """
    try:
        current = _current(telemetry)
        if current is None:
            return
        duration = float(duration_ms)
        if not math.isfinite(duration):
            _log.warning("azora-otel: track_db_query ignored a duration of %r ms", duration_ms)
            return
        label = status.strip().lower() if isinstance(status, str) else ERROR
        current.queries.record(
            normalize_operation(operation),
            normalize_model(model),
            max(duration, 0.0),
            label if label in STATUSES else ERROR,
        )
    except Exception:  # noqa: BLE001 - monitoring never breaks the caller
        _log.debug("azora-otel: track_db_query failed", exc_info=True)


F = TypeVar("F", bound=Callable[..., Any])


class db_query:  # lower-case on purpose: used like a function, ``with db_query(...)``
    """Time a block or a function as one query: ``success``, or ``error`` if it raises.

    ::

        with db_query("select", "users"):
            row = client.get_user(user_id)

        @db_query("insert", "events")
        async def save(event): ...

    The exception is re-raised unchanged. Works as a decorator on sync and async
    functions and as ``with`` / ``async with``; each use is timed separately.
    """

    __slots__ = ("_model", "_operation", "_starts", "_telemetry")

    def __init__(self, operation: str, model: str, *, telemetry: Telemetry | None = None) -> None:
        self._operation = operation
        self._model = model
        self._telemetry = telemetry
        self._starts: list[float] = []

    def _record(self, start: float, failed: bool) -> None:
        track_db_query(
            self._operation,
            self._model,
            (perf_counter() - start) * 1000.0,
            ERROR if failed else SUCCESS,
            telemetry=self._telemetry,
        )

    def __enter__(self) -> db_query:
        self._starts.append(perf_counter())
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._record(self._starts.pop(), exc_type is not None)

    async def __aenter__(self) -> db_query:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def __call__(self, func: F) -> F:
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                start = perf_counter()
                failed = True
                try:
                    result = await func(*args, **kwargs)
                    failed = False
                    return result
                finally:
                    self._record(start, failed)

            return cast("F", async_wrapper)

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = perf_counter()
            failed = True
            try:
                result = func(*args, **kwargs)
                failed = False
                return result
            finally:
                self._record(start, failed)

        return cast("F", wrapper)
