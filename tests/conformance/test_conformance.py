"""The corpus of app layouts, in process: every request against oracles the distro did not write.

For each request of each layout (``corpus.py``):

- the ``status_code`` label is the status the client received;
- the ``route`` label is the template written in the corpus, and on FastAPI >= 0.142 it
  equals ``http.route`` on FastAPI's own server span (FastAPI's native telemetry into an
  in-memory exporter). Where FastAPI reports no ``http.route`` (no route handled the
  request, or FastAPI < 0.142 which reports none at all), the expectation is the route
  table's: the corpus template, ``unmatched`` when no route handled it;
- counter, histogram, slow counter, error-rate window and the stats API all saw it once.

Each layout runs under the launcher's class hooks and under ``instrument_app``, with
tracing on and in metrics-only mode (where the distro, not FastAPI's telemetry, brings
the per-request route record).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from corpus import (
    BACKGROUND,
    BACKGROUND_PAUSE_MS,
    EXCEPTION_HANDLERS,
    HANDLER_PAUSE_MS,
    LAYOUTS,
    Call,
    Layout,
)
from fastapi import FastAPI
from opentelemetry.trace import SpanKind

import azora_otel
from azora_otel import _exchange, _fastapi
from azora_otel.testing import Capture, capture, installed

Key = tuple[str, str, str]


class Clock:
    """Controlled time for the middleware: only the app's ``pause`` moves it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    async def pause(self, ms: float) -> None:
        self.now += ms / 1000
        await asyncio.sleep(0)


@dataclass
class Seen:
    call: Call
    client_status: int
    key: Key | None
    """The one (method, route, status_code) series the request incremented."""
    spans: list[Any]


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(_exchange, "perf_counter", fake)
    return fake


@pytest.fixture(params=["traced", "metrics_only"])
def cap(request: pytest.FixtureRequest) -> Iterator[Capture]:
    with capture(tracing=request.param == "traced") as c:
        yield c


@pytest.fixture(params=["launcher", "instrument_app"])
def instrument(request: pytest.FixtureRequest, cap: Capture) -> Iterator[Any]:
    """How the app gets instrumented: the launcher's class hooks, or ``instrument_app``."""
    if request.param == "instrument_app":
        yield lambda app: azora_otel.instrument_app(app, cap.telemetry)
        return
    with installed(cap.telemetry, auto_instrument=True):
        yield lambda app: app


def counts(cap: Capture, name: str = "http_requests_total") -> Counter[Key]:
    found: Counter[Key] = Counter()
    for point in cap.points(name):
        a = point.attributes
        value = point.count if hasattr(point, "count") else point.value
        found[(a["method"], a["route"], a["status_code"])] += int(value)
    return found


def drive(cap: Capture, app: FastAPI, layout: Layout) -> list[Seen]:
    """Send the layout's calls one by one; what each one left behind."""
    seen: list[Seen] = []

    async def main() -> None:
        transport = httpx.ASGITransport(
            app=app, raise_app_exceptions=False, root_path=layout.root_path
        )
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            for call in layout.calls:
                before, spans_before = counts(cap), len(cap.spans())
                response = await client.request(
                    call.method, call.path, headers=dict(call.headers), content=call.body
                )
                new = counts(cap) - before
                assert sum(new.values()) == 1, (call, new)
                spans = [s for s in cap.spans()[spans_before:] if s.kind is SpanKind.SERVER]
                seen.append(Seen(call, response.status_code, next(iter(new)), spans))

    asyncio.run(main())
    return seen


def check_against_oracles(seen: list[Seen], traced: bool) -> None:
    for s in seen:
        _, route, status = s.key or ("", "", "")
        where = f"{s.call.method} {s.call.path}"
        assert s.client_status == s.call.status, where
        assert status == str(s.client_status), f"{where}: status label vs what the client got"
        assert route == s.call.route, f"{where}: route label vs the route table"
        if traced and _fastapi.NATIVE_TELEMETRY:
            (span,) = s.spans
            native = span.attributes.get("http.route")
            oracle = native if native is not None else "unmatched"
            assert route == oracle, f"{where}: route label vs FastAPI's own http.route"
            assert span.attributes["http.response.status_code"] == s.client_status, where


def check_agreement(cap: Capture, seen: list[Seen]) -> None:
    """Counter, histogram, error window and stats API counted the same requests."""
    requests = counts(cap)
    assert requests == Counter(s.key for s in seen)
    assert counts(cap, "http_request_duration_ms") == requests
    errors = sum(1 for s in seen if s.client_status >= 500)
    stats = azora_otel.get_performance_stats(cap.telemetry)
    assert stats.total_requests == len(seen)
    assert stats.error_requests == errors
    assert stats.current_error_rate == pytest.approx(errors / len(seen))
    assert cap.value("http_error_rate") == pytest.approx(errors / len(seen))


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda layout: layout.name)
def test_layout(layout: Layout, cap: Capture, instrument: Any, clock: Clock) -> None:
    app = instrument(layout.build(clock.pause))
    seen = drive(cap, app, layout)
    check_against_oracles(seen, traced=cap.spans_exporter is not None)
    check_agreement(cap, seen)


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda layout: layout.name)
def test_route_table_gives_the_same_labels(
    layout: Layout, monkeypatch: pytest.MonkeyPatch, clock: Clock
) -> None:
    """The route-table labels (what FastAPI < 0.142 gets) equal FastAPI's own here too."""
    monkeypatch.setattr(_fastapi, "NATIVE_ROUTES", False)
    with capture(tracing=False) as cap:
        app = azora_otel.instrument_app(layout.build(clock.pause), cap.telemetry)
        seen = drive(cap, app, layout)
    for s in seen:
        assert s.key is not None
        assert s.key[1] == s.call.route, f"{s.call.method} {s.call.path}"


def test_duration_ends_with_the_last_body_chunk(
    clock: Clock, azora_records: list[logging.LogRecord]
) -> None:
    """A background task pausing 10 s after a 5 ms handler: the request took 5 ms."""
    with capture({"PERF_API_LATENCY_MS": "1000"}) as cap:
        app = azora_otel.instrument_app(BACKGROUND.build(clock.pause), cap.telemetry)
        drive(cap, app, BACKGROUND)
        points = cap.points("http_request_duration_ms")
        (job,) = [p for p in points if p.attributes["route"] == "/jobs"]
        assert job.sum == pytest.approx(HANDLER_PAUSE_MS)
        assert clock.now - 1000.0 >= BACKGROUND_PAUSE_MS / 1000  # the task did run, after
        (stream,) = [p for p in points if p.attributes["route"] == "/stream"]
        assert stream.sum == pytest.approx(5.0)  # five chunks, 1 ms before each
        assert cap.value("slow_requests_total") == 0
    assert not [r for r in azora_records if r.azora["event"] == "slow_request"]  # type: ignore[attr-defined]


def test_catch_all_handler_time_is_in_the_duration(clock: Clock) -> None:
    """Starlette runs the ``Exception`` handler outermost: its 503 and its time count."""
    with capture() as cap:
        app = azora_otel.instrument_app(EXCEPTION_HANDLERS.build(clock.pause), cap.telemetry)
        drive(cap, app, EXCEPTION_HANDLERS)
        crashes = [
            p
            for p in cap.points("http_request_duration_ms")
            if p.attributes["route"] in ("/crash", "/crash-sync")
        ]
        assert {p.attributes["status_code"] for p in crashes} == {"503"}
        assert [p.sum for p in crashes] == pytest.approx([HANDLER_PAUSE_MS] * 2)


def test_failures_after_the_status_are_logged_not_counted_as_errors(
    clock: Clock, azora_records: list[logging.LogRecord]
) -> None:
    with capture() as cap:
        app = azora_otel.instrument_app(BACKGROUND.build(clock.pause), cap.telemetry)
        seen = drive(cap, app, BACKGROUND)
        stats = azora_otel.get_performance_stats(cap.telemetry)
    assert {s.key for s in seen} >= {
        ("POST", "/jobs/failing", "202"),
        ("GET", "/stream/broken", "200"),
    }
    assert stats.error_requests == 0
    events = {
        r.azora["event"]: r.azora  # type: ignore[attr-defined]
        for r in azora_records
        if r.azora["event"] in ("background_task_failed", "response_interrupted")  # type: ignore[attr-defined]
    }
    assert events["background_task_failed"]["route"] == "/jobs/failing"
    assert events["background_task_failed"]["status_code"] == 202
    assert events["background_task_failed"]["error_type"] == "RuntimeError"
    assert events["response_interrupted"]["route"] == "/stream/broken"
    assert events["response_interrupted"]["status_code"] == 200


async def websocket_echo(app: Any, path: str, text: str) -> list[dict[str, Any]]:
    """One websocket session over raw ASGI: connect, send ``text``, read until closed."""
    incoming = [
        {"type": "websocket.connect"},
        {"type": "websocket.receive", "text": text},
        {"type": "websocket.disconnect", "code": 1000},
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0) if incoming else {"type": "websocket.disconnect", "code": 1000}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "scheme": "ws",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"test")],
        "subprotocols": [],
    }
    await app(scope, receive, send)
    return sent


def test_websockets_next_to_http_are_not_requests(cap: Capture, clock: Clock) -> None:
    app = azora_otel.instrument_app(BACKGROUND.build(clock.pause), cap.telemetry)
    sent = asyncio.run(websocket_echo(app, "/ws", "hello"))
    assert [m["type"] for m in sent] == ["websocket.accept", "websocket.send", "websocket.close"]
    assert sent[1]["text"] == "hello"
    layout = Layout("http", BACKGROUND.build, (Call("GET", "/stream", 200, "/stream"),))
    drive(cap, app, layout)
    assert counts(cap) == Counter({("GET", "/stream", "200"): 1})
