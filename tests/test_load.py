"""Load: 10,000 requests at concurrency 50 through uvicorn; every count exact.

The 100,000-request figure is produced by ``reliability/run.py``; this is the
same scenario at a size that fits the default test run.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "apps"))
import hostile_harness as harness

pytestmark = pytest.mark.e2e

REQUESTS = 10_000
CONCURRENCY = 50


def traffic(n: int) -> tuple[list[harness.Request], Counter[tuple[str, str, str]]]:
    """``n`` requests over four routes and statuses, and the counts they must produce."""
    mix = [
        ((b"GET", b"/items/%d", ()), ("GET", "/items/{item_id}", "200")),
        ((b"GET", b"/health", ()), ("GET", "/health", "200")),
        ((b"GET", b"/nowhere/%d", ()), ("GET", "unmatched", "404")),
        ((b"POST", b"/items/%d", ()), ("POST", "/items/{item_id}", "405")),
        ((b"GET", b"/fail", ()), ("GET", "/fail", "500")),
    ]
    requests: list[harness.Request] = []
    expected: Counter[tuple[str, str, str]] = Counter()
    for i in range(n):
        # one in 100 is a 500 (uvicorn closes that connection; the client reconnects)
        (method, target, headers), key = mix[4] if i % 100 == 99 else mix[i % 4]
        requests.append((method, target % i if b"%d" in target else target, headers))
        expected[key] += 1
    return requests, expected


def test_10000_requests_at_concurrency_50_counted_exactly(tmp_path: Path) -> None:
    port = harness.stack.free_port()
    service = harness.start_service(tmp_path, harness.uvicorn_command(port), port, name="load")
    requests, expected = traffic(REQUESTS)
    try:
        results = harness.send_all(port, requests, concurrency=CONCURRENCY)
        text = service.scrape_counted(REQUESTS)
    finally:
        service.stop()
    assert not results.errors, results.errors
    assert results.statuses == Counter({200: expected[("GET", "/items/{item_id}", "200")]
                                        + expected[("GET", "/health", "200")],
                                        404: expected[("GET", "unmatched", "404")],
                                        405: expected[("POST", "/items/{item_id}", "405")],
                                        500: expected[("GET", "/fail", "500")]})  # fmt: skip
    counted = harness.requests_by(text, "method", "route", "status_code")
    assert counted == expected
    histogram = harness.samples(text, "http_request_duration_ms_count")
    assert sum(histogram.values()) == REQUESTS
    p50, p99 = results.quantile(0.5) * 1000, results.quantile(0.99) * 1000
    print(
        f"\nload: sent {REQUESTS}, counted {sum(counted.values())}, "
        f"p50 {p50:.1f} ms, p99 {p99:.1f} ms"
    )
