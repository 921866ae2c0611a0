"""The status label when the application's answer is unusual: none at all, the client gone
first, a catch-all handler answering a 4xx. The client's view is the oracle."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from _client import run_requests
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

import azora_otel
from azora_otel.testing import Capture

AFTER_RESPONSE_EVENTS = {"background_task_failed", "response_interrupted"}


def statuses(cap: Capture) -> dict[tuple[str, str], float]:
    return {
        (p.attributes["route"], p.attributes["status_code"]): p.value
        for p in cap.points("http_requests_total")
    }


def test_catch_all_handler_answering_400_is_that_status_and_no_error(
    cap: Capture, azora_records: list[logging.LogRecord]
) -> None:
    app = FastAPI()

    @app.exception_handler(Exception)
    async def as_bad_request(_request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=400)

    @app.get("/parse")
    async def parse() -> None:
        raise ValueError("not a number")

    azora_otel.instrument_app(app, cap.telemetry)
    assert run_requests(app, [("GET", "/parse")]) == [400]
    assert statuses(cap) == {("/parse", "400"): 1}
    assert azora_otel.get_performance_stats(cap.telemetry).error_requests == 0
    # the exception the handler answered is the request's own, not one after it
    assert not [r for r in azora_records if r.azora["event"] in AFTER_RESPONSE_EVENTS]  # type: ignore[attr-defined]


class Silent:
    """A middleware that returns without sending anything (the server answers 500)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/silent":
            return
        await self.app(scope, receive, send)


def scope_for(path: str) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"test")],
    }


async def never_receive() -> dict[str, Any]:
    await asyncio.sleep(3600)
    return {"type": "http.disconnect"}


def test_no_response_at_all_is_a_500_and_an_error(cap: Capture) -> None:
    app = FastAPI()
    app.add_middleware(Silent)
    azora_otel.instrument_app(app, cap.telemetry)
    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    asyncio.run(app(scope_for("/silent"), never_receive, send))
    assert sent == []  # the server would answer 500 itself
    assert statuses(cap) == {("unmatched", "500"): 1}
    assert azora_otel.get_performance_stats(cap.telemetry).error_requests == 1


def test_client_gone_before_any_response_is_499_and_no_error(cap: Capture) -> None:
    app = FastAPI()
    entered = asyncio.Event()

    @app.get("/hang")
    async def hang() -> None:
        entered.set()
        await asyncio.sleep(3600)

    azora_otel.instrument_app(app, cap.telemetry)

    async def main() -> None:
        async def send(_message: Any) -> None:
            return

        task = asyncio.create_task(app(scope_for("/hang"), never_receive, send))
        await entered.wait()
        task.cancel()  # what a server does when the connection is gone
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert statuses(cap) == {("/hang", "499"): 1}
    assert azora_otel.get_performance_stats(cap.telemetry).error_requests == 0
