"""A subset of the corpus through a real server: ``azora-otel-instrument uvicorn``.

The client is a real HTTP client; the oracle is the status it received and the
corpus' route (checked against FastAPI's own ``http.route`` in process). The exposition
is scraped until it has counted every request sent (recording happens on the server's
side of the wire: a scrape must never race it).
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from _client import families
from corpus import BACKGROUND_PAUSE_MS, LAYOUTS, Layout
from serve import MAX_PAUSE_MS
from stack import free_port, start_process, wait_for_port

pytestmark = pytest.mark.e2e

HERE = Path(__file__).parent
LAUNCHER = str(Path(sys.executable).parent / "azora-otel-instrument")
SUBSET = (
    "nested_routers",
    "mounts",
    "exception_handlers",
    "middleware_stack",
    "background_and_streaming",
    "behind_proxy",
)
SLOW_MS = 2500.0
"""Slow-request threshold of these runs: far above any of these requests, far below
the (capped) background pause, which must not count."""


def request(client: httpx.Client, method: str, path: str, headers: dict[str, str]) -> int:
    """Send one request; the status the client received (a body that breaks off after
    the status line still has that status)."""
    with client.stream(method, path, headers=headers) as response:
        with contextlib.suppress(httpx.HTTPError):
            response.read()
        return response.status_code


def requests_counted(text: str) -> Counter[tuple[str, str, str]]:
    found: Counter[tuple[str, str, str]] = Counter()
    family = families(text).get("http_requests")
    for sample in family.samples if family else ():
        if sample.name == "http_requests_total":
            labels = sample.labels
            found[(labels["method"], labels["route"], labels["status_code"])] += int(sample.value)
    return found


def scrape_until(base: str, total: int, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = httpx.get(base + "/metrics", timeout=10).text
        if sum(requests_counted(text).values()) >= total:
            return text
        time.sleep(0.2)
    raise AssertionError(f"the exposition never counted {total} requests:\n{text}")


@pytest.mark.parametrize(
    "layout", [layout for layout in LAYOUTS if layout.name in SUBSET], ids=lambda x: x.name
)
def test_layout_under_uvicorn(layout: Layout, tmp_path: Path) -> None:
    port = free_port()
    command = [LAUNCHER, sys.executable, "-m", "uvicorn", "serve:app", "--factory"]
    command += ["--port", str(port), "--app-dir", str(HERE), "--log-level", "warning"]
    if layout.root_path:
        command += ["--root-path", layout.root_path]
    env = {
        "CORPUS_LAYOUT": layout.name,
        "PYTHONPATH": f"{HERE}:{HERE.parent}",
        "PERF_API_LATENCY_MS": str(SLOW_MS),
        "OTEL_SERVICE_NAME": "conformance",
    }
    process = start_process("service", command, tmp_path, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_port(process, port, timeout=60)
        expected: Counter[tuple[str, str, str]] = Counter()
        # One connection per request: uvicorn closes a connection whose application
        # raised, even after a complete response (the catch-all handler's 503, a failed
        # background task), and a reused connection would be reset.
        no_reuse = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(base_url=base, timeout=30, limits=no_reuse) as client:
            for call in layout.calls:
                # a proxy in front strips the root path; the server is given it
                path = call.path.removeprefix(layout.root_path)
                status = request(client, call.method, path, dict(call.headers))
                assert status == call.status, f"{call.method} {call.path}"
                expected[(call.method, call.route, str(status))] += 1
        text = scrape_until(base, sum(expected.values()))
        assert requests_counted(text) == expected
        check_background_is_not_latency(layout, text)
    finally:
        process.stop()


def check_background_is_not_latency(layout: Layout, text: str) -> None:
    """The background task sleeps 3 s after a 5 ms handler: not the request's time."""
    if not any(call.path == "/jobs" for call in layout.calls):
        return
    assert MAX_PAUSE_MS <= BACKGROUND_PAUSE_MS
    buckets = {
        s.labels["le"]: s.value
        for s in families(text)["http_request_duration_ms"].samples
        if s.name.endswith("_bucket") and s.labels["route"] == "/jobs"
    }
    assert buckets["2000"] == 1  # answered before the 3 s background pause
    slow = families(text).get("slow_requests")
    assert not [s for s in (slow.samples if slow else ()) if s.labels.get("route") == "/jobs"]
