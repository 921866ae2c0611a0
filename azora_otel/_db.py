"""Database query metrics: the recorder every DB path goes through.

Both the SQLAlchemy hooks and the manual API (:func:`track_db_query`,
:func:`db_query`) end here, so the metrics and the slow-query logic are the same
whatever produced the measurement.
"""

from __future__ import annotations

import logging

from azora_otel._http import BucketCounts
from azora_otel._instruments import DB_DURATION_BUCKETS_MS, Instruments
from azora_otel._logs import emit, trace_ids

SUCCESS = "success"
ERROR = "error"
_MAX_CACHED_LABEL_SETS = 10_000


class QueryRecorder:
    """Turns one finished query into the contract's measurements."""

    def __init__(self, instruments: Instruments, threshold_ms: float) -> None:
        self._duration = instruments.query_duration.record
        self._queries = instruments.queries.add
        self._slow = instruments.slow_queries.add
        self.threshold_ms = threshold_ms
        self.histogram = BucketCounts(DB_DURATION_BUCKETS_MS)
        self.total = 0
        self.errors = 0
        self.slow = 0
        self._labels: dict[tuple[str, str], dict[str, str]] = {}
        self._labels_with_status: dict[tuple[str, str, str], dict[str, str]] = {}

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
        self._queries(1, with_status)
        self.total += 1
        if status != SUCCESS:
            self.errors += 1
        self.histogram.observe(duration_ms)
        if duration_ms > self.threshold_ms:
            self.slow += 1
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
                fields["statement"] = statement
            emit(logging.WARNING, "slow_query", "slow query", fields)
