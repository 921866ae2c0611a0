"""Exporter faults: the collector unreachable at start, SIGKILLed mid-run, black-holed
(accepts connections, never answers). Requests keep succeeding, memory stays
bounded (span queue capped, metrics are aggregates), exporter log lines are
rate-limited, and once a collector is back on the same port the totals recover
to exact without restarting the service (the SDK pushes cumulative counters).

Latency under each fault, as a ratio to the same run without fault, is measured
by ``reliability/run.py`` (a benchmark, not a timed test).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "apps"))
import hostile_harness as harness

pytestmark = pytest.mark.e2e
stack = harness.stack

BATCH = 200
EXPORT_FAILURE_MARKERS = ("Failed to export", "Transient error", "Queue full", "Exception while")


def fault_env(ports: stack.CollectorPorts) -> dict[str, str]:
    return {
        **harness.otlp_env(ports, interval_ms=500),
        "OTEL_TRACES_EXPORTER": "otlp",  # spans queue up too: the queue must stay capped
        "OTEL_EXPORTER_OTLP_TIMEOUT": "2",  # seconds; keeps the black-holed exports short
    }


def drive(port: int, seconds: float) -> int:
    """Send batches of requests for about ``seconds``; every one must succeed."""
    sent = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and sent < 50_000:
        results = harness.send_all(port, [(b"GET", b"/items/1", ())] * BATCH, concurrency=4)
        assert not results.errors, results.errors
        assert results.statuses == {200: BATCH}, results.statuses
        sent += BATCH
        time.sleep(0.2)
    return sent


def drive_measuring(service: harness.Service, seconds: float) -> tuple[int, list[int]]:
    """``drive`` in three parts, reading the service's RSS (kB) before each and at the end."""
    sent = 0
    rss = [service.rss_kb()]
    for _ in range(3):
        sent += drive(service.port, seconds / 3)
        rss.append(service.rss_kb())
    return sent, rss


def check_memory_plateau(rss: list[int]) -> None:
    """The span queue fills in the first part of the fault; after that memory is flat."""
    assert rss[-1] - rss[1] < 15_000, f"RSS kept growing during the fault: {rss} kB"


def export_log_lines(log: str) -> list[str]:
    return [line for line in log.splitlines() if any(m in line for m in EXPORTER_MARKERS)]


EXPORTER_MARKERS = EXPORT_FAILURE_MARKERS


def check_rate_limited(log: str, fault_seconds: float) -> None:
    lines = export_log_lines(log)
    stack.say(f"{len(lines)} exporter log line(s) over a {fault_seconds:.0f} s fault")
    # Export attempts failed every ~0.5-2.5 s for the whole fault; the rate limit
    # lets each distinct message through once a minute.
    distinct = {m for m in EXPORTER_MARKERS for line in lines if m in line}
    assert lines, "the fault was not logged at all"
    assert len(lines) <= 2 * len(distinct) + 2, "\n".join(lines)


def test_collector_unreachable_at_start_then_appears(tmp_path: Path) -> None:
    ports = stack.CollectorPorts.pick()  # nothing listens on them yet
    port = stack.free_port()
    service = harness.start_service(
        tmp_path, harness.uvicorn_command(port), port, fault_env(ports), name="fault-start"
    )
    try:
        sent, rss = drive_measuring(service, 9)
        with stack.run_collector(tmp_path / "collector", ports=ports) as collector:
            harness.wait_for_collector_total(collector, "fault-start", sent, timeout=60)
            sent += drive(port, 1)
            harness.wait_for_collector_total(collector, "fault-start", sent, timeout=60)
    finally:
        service.stop()
    stack.say(f"unreachable: {sent} requests, RSS {rss} kB")
    check_memory_plateau(rss)
    check_rate_limited(service.log(), 8)


def test_collector_killed_mid_run_recovers_without_restart(tmp_path: Path) -> None:
    ports = stack.CollectorPorts.pick()
    collector = stack.start_collector(tmp_path / "collector", ports=ports)
    port = stack.free_port()
    service = harness.start_service(
        tmp_path, harness.uvicorn_command(port), port, fault_env(ports), name="fault-kill"
    )
    try:
        sent = drive(port, 2)
        harness.wait_for_collector_total(collector, "fault-kill", sent, timeout=60)
        collector.process.stop(sig=9)  # SIGKILL: no goodbye, the port just closes
        during, rss = drive_measuring(service, 9)
        sent += during
        collector = stack.start_collector(
            tmp_path / "collector", ports=ports, name="otelcol-restarted"
        )
        harness.wait_for_collector_total(collector, "fault-kill", sent, timeout=60)
        assert service.process.running()
    finally:
        service.stop()
        collector.stop()
    stack.say(f"killed: {sent} requests, RSS {rss} kB")
    check_memory_plateau(rss)
    check_rate_limited(service.log(), 8)


def test_black_holed_collector_does_not_wedge_the_exporter(tmp_path: Path) -> None:
    ports = stack.CollectorPorts.pick()
    port = stack.free_port()
    with harness.black_hole(ports.otlp_http) as held:
        service = harness.start_service(
            tmp_path, harness.uvicorn_command(port), port, fault_env(ports), name="fault-hole"
        )
        try:
            sent, rss = drive_measuring(service, 10)
        except BaseException:
            service.stop()
            raise
        connections = len(held)
    try:
        # The black hole is gone; a real collector takes its port. The export thread
        # was only ever waiting on a timeout, so the next push gets through.
        with stack.run_collector(tmp_path / "collector", ports=ports) as collector:
            harness.wait_for_collector_total(collector, "fault-hole", sent, timeout=60)
            sent += drive(port, 1)
            harness.wait_for_collector_total(collector, "fault-hole", sent, timeout=60)
    finally:
        service.stop()
    stack.say(f"black hole: {connections} connection(s) held, {sent} requests, RSS {rss} kB")
    assert connections >= 2  # the exporter timed out and tried again
    check_memory_plateau(rss)
    check_rate_limited(service.log(), 10)
