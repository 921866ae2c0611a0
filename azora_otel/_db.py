"""Database query metrics: the recorder every DB path goes through.

Both the SQLAlchemy hooks and the manual API (``_db_api``: ``track_db_query``,
``db_query``) end here, so the metrics and the slow-query logic are the same
whatever produced the measurement. The recorder knows nothing of the
process-wide distro: ``Telemetry.build`` creates it, and the callers find it.
"""

from __future__ import annotations

import logging
import threading
from typing import cast

from azora_otel._histogram import BucketCounts
from azora_otel._instruments import DB_DURATION_BUCKETS_MS, Instruments
from azora_otel._logs import emit, trace_ids
from azora_otel._record import histogram_recorder
from azora_otel._sql import truncate

SUCCESS = "success"
ERROR = "error"
STATUSES = frozenset({SUCCESS, ERROR})
MAX_LOGGED_STATEMENT = 1024
"""The slow-query record's ``statement`` is cut to this many characters."""
_MAX_CACHED_LABEL_SETS = 10_000


class QueryRecorder:
    """Turns one finished query into the contract's measurements."""

    def __init__(self, instruments: Instruments, threshold_ms: float, *, fast: bool = True) -> None:
        self._duration = histogram_recorder(instruments.query_duration, fast)
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
        self._duration(duration_ms, key, labels)
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
