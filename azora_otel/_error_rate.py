"""Real-time error rate over a sliding window of one-second slots.

``http_error_rate`` is ``errors / requests`` over the last ``window_s`` seconds
(0 when there was no request in the window). An error is a 5xx response or an
unhandled exception. Crossing ``PERF_ERROR_RATE`` upwards and coming back to or
below it each produce one event, never one per request.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class ErrorRateWindow:
    """Counts requests and errors per second over the last ``window_s`` seconds."""

    def __init__(
        self,
        window_s: int,
        threshold: float,
        on_transition: Callable[[bool, float, int, int], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.window_s = window_s
        self.threshold = threshold
        self._on_transition = on_transition
        self._clock = clock
        self._totals = [0] * window_s
        self._errors = [0] * window_s
        self._total = 0
        self._error = 0
        self._head = int(clock())
        self._breached = False
        self._lock = threading.Lock()

    def _advance(self, now: int) -> None:
        """Drop the slots that left the window. Caller holds the lock."""
        steps = now - self._head
        if steps <= 0:
            return
        n = self.window_s
        if steps >= n:
            self._totals = [0] * n
            self._errors = [0] * n
            self._total = self._error = 0
        else:
            totals, errors = self._totals, self._errors
            for second in range(self._head + 1, now + 1):
                i = second % n
                self._total -= totals[i]
                self._error -= errors[i]
                totals[i] = errors[i] = 0
        self._head = now

    def record(self, error: bool) -> None:
        now = int(self._clock())
        with self._lock:
            if now != self._head:
                self._advance(now)
            i = now % self.window_s
            self._totals[i] += 1
            self._total += 1
            if error:
                self._errors[i] += 1
                self._error += 1
            breached = self._error > self.threshold * self._total
            changed = breached is not self._breached
            if changed:
                self._breached = breached
                total, errors = self._total, self._error
        if changed and self._on_transition is not None:
            self._on_transition(breached, errors / total, errors, total)

    def rate(self) -> float:
        """The current error rate; also reports a recovery when the window went quiet."""
        with self._lock:
            self._advance(int(self._clock()))
            total, errors = self._total, self._error
            breached = errors > self.threshold * total
            changed = breached is not self._breached
            self._breached = breached
        rate = errors / total if total else 0.0
        if changed and self._on_transition is not None:
            self._on_transition(breached, rate, errors, total)
        return rate

    @property
    def breached(self) -> bool:
        return self._breached
