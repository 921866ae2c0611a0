"""The manual database API (the seed's ``trackDbQuery``): :func:`track_db_query`, :func:`db_query`.

For databases that are not behind SQLAlchemy. Both record through the same
:class:`~azora_otel._db.QueryRecorder` as the SQLAlchemy listeners, found in the
``telemetry`` passed in or else in the process-wide distro.
"""

from __future__ import annotations

import functools
import inspect
import logging
import math
from collections.abc import Callable
from time import perf_counter
from types import TracebackType
from typing import Any, TypeVar, cast

from azora_otel import _state
from azora_otel._db import ERROR, STATUSES, SUCCESS
from azora_otel._sql import normalize_model, normalize_operation
from azora_otel._telemetry import Telemetry

_log = logging.getLogger("azora_otel")


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
        current = telemetry if telemetry is not None else _state.get_or_rebuild()
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
