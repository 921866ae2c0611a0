"""The sliding window behind ``http_error_rate``, with a clock the test controls."""

from __future__ import annotations

import pytest

from azora_otel._error_rate import ErrorRateWindow


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(window_s: int = 60, threshold: float = 0.1) -> tuple[ErrorRateWindow, Clock, list]:
    clock = Clock()
    events: list[tuple[bool, float, int, int]] = []
    window = ErrorRateWindow(
        window_s, threshold, on_transition=lambda *e: events.append(e), clock=clock
    )
    return window, clock, events


def test_empty_window_is_zero() -> None:
    window, _, events = make()
    assert window.rate() == 0.0
    assert events == []


def test_rate_is_errors_over_requests_in_the_window() -> None:
    window, clock, _ = make()
    for i in range(10):
        window.record(error=i < 3)
        clock.now += 1
    assert window.rate() == pytest.approx(0.3)


def test_old_seconds_leave_the_window() -> None:
    window, clock, _ = make(window_s=10)
    window.record(error=True)  # t=1000
    clock.now += 5
    window.record(error=False)  # t=1005
    assert window.rate() == pytest.approx(0.5)
    clock.now += 5  # t=1010: the error at 1000 is now 10 s old, out of a 10 s window
    assert window.rate() == 0.0


def test_partial_expiry_keeps_recent_seconds() -> None:
    window, clock, _ = make(window_s=10)
    window.record(error=True)  # 1000
    clock.now = 1004
    window.record(error=False)
    window.record(error=False)
    clock.now = 1010  # 1000 expires, 1004 stays
    assert window.rate() == 0.0
    clock.now = 1013
    window.record(error=True)
    assert window.rate() == pytest.approx(1 / 3)


def test_a_long_silence_clears_everything() -> None:
    window, clock, _ = make(window_s=60)
    for _ in range(100):
        window.record(error=True)
    clock.now += 10_000
    assert window.rate() == 0.0
    window.record(error=False)
    assert window.rate() == 0.0


def test_transitions_fire_once_each_way() -> None:
    window, _, events = make(threshold=0.1)
    window.record(error=False)
    window.record(error=True)  # 50 %: crossed
    window.record(error=True)  # still above: nothing new
    assert [e[0] for e in events] == [True]
    assert events[0][1:] == (0.5, 1, 2)
    for _ in range(17):
        window.record(error=False)  # 2/20 = 10 % <= 10 %: recovered
    assert [e[0] for e in events] == [True, False]


def test_recovery_is_reported_when_the_window_goes_quiet() -> None:
    window, clock, events = make(window_s=30, threshold=0.0)
    window.record(error=True)
    clock.now += 31
    assert window.rate() == 0.0
    assert [e[0] for e in events] == [True, False]


def test_zero_threshold_any_error_breaches() -> None:
    window, _, events = make(threshold=0.0)
    for _ in range(1000):
        window.record(error=False)
    assert events == []
    window.record(error=True)
    assert [e[0] for e in events] == [True]
