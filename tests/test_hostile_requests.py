"""Hostile requests: random and non-UTF-8 paths, unknown and very long methods,
huge headers. Series stay bounded (route templates + ``unmatched``; standard
methods + ``_OTHER``), nothing raises into the app, memory stays flat.

In process the scopes are built by hand (``raw_path`` bytes, any method string);
through uvicorn the requests are raw bytes over a socket (httpx would normalise them).
"""

from __future__ import annotations

import asyncio
import random
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import azora_otel
from azora_otel._exchange import OTHER_METHOD, STANDARD_METHODS
from azora_otel._routes import UNMATCHED_ROUTE
from azora_otel.testing import capture

sys.path.insert(0, str(Path(__file__).parent / "apps"))
import hostile_app
import hostile_harness as harness

ROUTES = {"/health", "/items/{item_id}", "/login", "/db/users/{user_id}", "/db/slow", "/fail",
          "/pid"}  # fmt: skip
RNG_SEED = 7


def random_path(rng: random.Random) -> bytes:
    """A path no route matches: random bytes, percent-escapes, dot segments, long runs."""
    kind = rng.randrange(6)
    if kind == 0:
        return b"/" + bytes(rng.randrange(0x21, 0x7F) for _ in range(rng.randrange(1, 60)))
    if kind == 1:
        return b"/" + bytes(rng.randrange(0x80, 0x100) for _ in range(rng.randrange(1, 20)))
    if kind == 2:
        return b"/" + b"".join(b"%%%02X" % rng.randrange(256) for _ in range(rng.randrange(1, 20)))
    if kind == 3:
        return b"/scan/" + str(rng.randrange(10**9)).encode() + b"/wp-admin.php"
    if kind == 4:
        return b"/../" * rng.randrange(1, 20) + b"etc/passwd"
    return b"/x" * rng.randrange(1, 2000)


async def call(app: Any, method: str, raw_path: bytes, headers: list[tuple[bytes, bytes]]) -> int:
    path = raw_path.decode("latin-1")  # what a server does with undecodable bytes
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": raw_path, "query_string": b"",
        "root_path": "", "headers": headers, "client": ("127.0.0.1", 1234),
        "server": ("127.0.0.1", 80),
    }  # fmt: skip
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


def series(text: str) -> Counter[tuple[str, str, str]]:
    return harness.requests_by(text, "method", "route", "status_code")


def test_in_process_10000_random_paths_and_odd_methods_keep_series_bounded() -> None:
    rng = random.Random(RNG_SEED)
    requests: list[tuple[str, bytes, list[tuple[bytes, bytes]]]] = []
    for _ in range(10_000):
        requests.append(("GET", random_path(rng), []))
    odd_methods = ["BREW", "M" * 10_000, "get", "G\x00T", "ÜBER", "", "PROPFIND", "\udcff"]
    for method in odd_methods:
        requests.append((method, b"/items/1", []))
        requests.append((method, b"/nowhere", []))
    huge = [(b"x-big", b"v" * 1_000_000), *((b"x-h%d" % i, b"y" * 100) for i in range(2000))]
    requests.append(("GET", b"/health", huge))
    requests.append(("GET", b"/\xff\xfe/items/\xc3\x28", [(b"cookie", b"\xff" * 10_000)]))

    with capture() as cap:
        app = hostile_app.create_app()
        azora_otel.instrument_app(app, cap.telemetry)

        async def run() -> list[int]:
            return [await call(app, m, p, h) for m, p, h in requests]

        statuses = asyncio.run(run())  # raises if anything reached the caller
        text = cap.exposition()

    found = series(text)
    assert sum(found.values()) == len(requests) == len(statuses)
    assert all(status in (200, 404, 405) for status in statuses), Counter(statuses)
    for method, route, _ in found:
        assert method in STANDARD_METHODS or method == OTHER_METHOD
        assert route in ROUTES or route == UNMATCHED_ROUTE
    # The bounded set, exactly, with exact counts.
    assert found == {
        ("GET", UNMATCHED_ROUTE, "404"): 10_001,
        ("GET", "/health", "200"): 1,
        (OTHER_METHOD, "/items/{item_id}", "405"): len(odd_methods),
        (OTHER_METHOD, UNMATCHED_ROUTE, "404"): len(odd_methods),
    }
    assert "M" * 100 not in text


def test_in_process_memory_is_flat_after_warm_up() -> None:
    rng = random.Random(RNG_SEED + 1)
    # Metrics only: the in-memory span exporter keeps every span by design.
    with capture(tracing=False) as cap:
        app = hostile_app.create_app()
        azora_otel.instrument_app(app, cap.telemetry)

        async def burst(n: int) -> None:
            for _ in range(n):
                await call(app, rng.choice(["GET", "BREW", "X" * 500]), random_path(rng), [])

        asyncio.run(burst(3_000))  # warm-up: caches, allocator arenas
        before = harness.vm_rss_kb(_pid())
        asyncio.run(burst(10_000))
        after = harness.vm_rss_kb(_pid())
        lines = harness.series_count(cap.exposition())
    # 10,000 distinct hostile paths must not keep anything per path: a leak of even
    # 1 KiB per request would show as 10 MB.
    assert after - before < 8_000, f"RSS grew {after - before} kB"
    assert lines < 100


def _pid() -> int:
    import os

    return os.getpid()


@pytest.mark.e2e
def test_uvicorn_hostile_traffic_bounded_series_flat_memory_no_crash(tmp_path: Path) -> None:
    port = harness.stack.free_port()
    service = harness.start_service(tmp_path, harness.uvicorn_command(port), port, name="hostile")
    rng = random.Random(RNG_SEED)
    try:
        warm = [(b"GET", b"/items/%d" % i, ()) for i in range(500)]
        warm += [(b"GET", random_path(rng), ()) for _ in range(500)]
        warm_results = harness.send_all(port, warm, concurrency=4)
        rss_before = service.rss_kb()
        hostile: list[harness.Request] = [(b"GET", random_path(rng), ()) for _ in range(10_000)]
        hostile += [(m, b"/items/1", ()) for m in (b"BREW", b"M" * 8000, b"get", b"PROPFIND")]
        hostile += [(b"GET", b"/\xff\xfe\xfd", ()), (b"GET", b"/%ff%fe/%c3%28", ())]
        hostile += [(b"GET", b"/health", [(b"x-big", b"v" * 60_000)])]
        hostile += [(b"GET", b"/health", [(b"x-h%d" % i, b"y" * 50) for i in range(90)])]
        results = harness.send_all(port, hostile, concurrency=8)
        rss_after = service.rss_kb()
        refused = sum(r.statuses[400] + r.statuses[431] for r in (warm_results, results))
        text = service.scrape_counted(len(warm) + len(hostile) - refused)
        assert service.process.running()
        assert harness.get(port, "/health") == 200  # still serving
    finally:
        service.stop()
    assert not results.errors, results.errors
    assert not warm_results.errors, warm_results.errors
    found = series(text)
    # Requests uvicorn refuses before the app (400 from the HTTP parser, 431) are not
    # the app's and are not counted; everything the app saw is counted exactly.
    assert sum(found.values()) == len(warm) + len(hostile) - refused
    for method, route, _ in found:
        assert method in STANDARD_METHODS or method == OTHER_METHOD
        assert route in ROUTES or route == UNMATCHED_ROUTE
    assert len(found) <= 6, found
    print(
        f"\nhostile: sent {len(hostile)}, statuses {dict(results.statuses)}, "
        f"series {len(found)} ({harness.series_count(text)} samples), "
        f"RSS {rss_before} kB -> {rss_after} kB"
    )
    assert rss_after - rss_before < 20_000, f"RSS grew {rss_after - rss_before} kB"
    assert "Traceback" not in service.log()
