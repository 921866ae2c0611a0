"""The server span the distro builds (``AZORA_SERVER_SPAN=azora``) is FastAPI's own.

Oracle: FastAPI's native telemetry code (``AZORA_SERVER_SPAN=fastapi``) on the same
application and the same requests. Every span either way is compared whole: name,
kind, attributes with their values and their order (the order is what the OTLP
encoding writes), status, events, links, parent (remote, or which span of the
request), scope and resource; and what the application sees while it runs (the
current span, FastAPI's per-request data, baggage, the trace an outgoing call
would propagate). The requests are the conformance corpus (every layout) and raw
ASGI requests for what a client library does not vary: ``Host`` headers of every
shape, HTTP versions, schemes, non-standard methods, query strings with secrets,
propagated parents, a client that disconnects, an app that never answers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from corpus import LAYOUTS, Layout
from fastapi import FastAPI, Request
from fastapi.telemetry import get_telemetry_data
from opentelemetry import baggage, trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

import azora_otel
from azora_otel._native_gate import GatedNativeTelemetry
from azora_otel._server_span import SUPPORTED
from azora_otel.testing import capture

BUILDERS = ("azora", "fastapi")
REMOTE_TRACE = 0x0AF7651916CD43DD8448EB211C80319C
REMOTE_SPAN = 0xB7AD6B7169203331


async def _pause(_ms: float) -> None:
    await asyncio.sleep(0)


def _normal(spans: Any) -> list[tuple[Any, ...]]:
    """Spans with ids replaced by what they mean (this trace, the remote parent)."""
    ids = {s.context.span_id: i for i, s in enumerate(spans)}
    found = []
    for span in spans:
        parent = span.parent
        if parent is None:
            where: Any = None
        elif parent.is_remote:
            where = ("remote", parent.span_id == REMOTE_SPAN, parent.trace_flags)
        else:
            where = ("local", ids.get(parent.span_id))
        trace_of = "remote" if span.context.trace_id == REMOTE_TRACE else "own"
        resource = {k: v for k, v in span.resource.attributes.items() if k != "service.instance.id"}
        found.append(
            (
                span.name,
                span.kind,
                tuple(span.attributes.items()),
                span.status.status_code,
                span.status.description,
                tuple((e.name, tuple(e.attributes.items())) for e in span.events),
                len(span.links),
                where,
                trace_of,
                span.context.trace_flags,
                str(span.context.trace_state),
                (span.instrumentation_scope.name, span.instrumentation_scope.version),
                span.instrumentation_scope.schema_url,
                tuple(sorted(resource.items())),
                span.dropped_attributes,
            )
        )
    return found


@contextmanager
def _traced(builder: str, extra: dict[str, str] | None = None) -> Iterator[Any]:
    with capture({"AZORA_SERVER_SPAN": builder, **(extra or {})}) as cap:
        yield cap


def _instrumented(app: FastAPI, cap: Any, builder: str) -> FastAPI:
    azora_otel.instrument_app(app, cap.telemetry)
    gated = app._native_telemetry  # type: ignore[attr-defined]
    assert isinstance(gated, GatedNativeTelemetry)
    # Otherwise the comparison would set FastAPI's code against itself.
    assert (gated._server_span is not None) is (builder == "azora" and SUPPORTED)
    return app


def _drive_layout(layout: Layout, builder: str, extra: dict[str, str]) -> list[Any]:
    with _traced(builder, extra) as cap:
        app = _instrumented(layout.build(_pause), cap, builder)
        statuses = []

        async def main() -> None:
            transport = httpx.ASGITransport(
                app=app, raise_app_exceptions=False, root_path=layout.root_path
            )
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                for call in layout.calls:
                    response = await client.request(
                        call.method, call.path, headers=dict(call.headers), content=call.body
                    )
                    statuses.append(response.status_code)

        asyncio.run(main())
        return [statuses, _normal(cap.spans())]


def test_this_fastapi_is_one_the_distro_builds_the_span_for() -> None:
    """The installed FastAPI is inside the checked range, so the tests below compare
    two different code paths (CI runs the newest FastAPI)."""
    assert SUPPORTED


@pytest.mark.parametrize("operation_spans", ["false", "true"])
@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda layout: layout.name)
def test_corpus_spans_are_fastapis(layout: Layout, operation_spans: str) -> None:
    extra = {"AZORA_FASTAPI_OPERATION_SPANS": operation_spans}
    ours, theirs = (_drive_layout(layout, b, extra) for b in BUILDERS)
    assert ours == theirs
    assert ours[1], "no span at all: nothing was compared"


# ------------------------------------------------------------------ raw ASGI requests


def _app(seen: list[Any]) -> FastAPI:
    app = FastAPI()

    def observe(request: Request) -> None:
        span = trace.get_current_span()
        carrier: dict[str, str] = {}
        TraceContextTextMapPropagator().inject(carrier)
        data = get_telemetry_data()
        seen.append(
            (
                span.is_recording(),
                getattr(span, "name", None),
                carrier.get("traceparent", "")[:35] == f"00-{REMOTE_TRACE:032x}",
                carrier.get("traceparent", "")[-2:],
                dict(baggage.get_all()),
                data is not None and data.request is request,
            )
        )

    @app.get("/items/{item_id}")
    async def item(item_id: int, request: Request) -> dict[str, int]:
        observe(request)
        return {"item_id": item_id}

    @app.post("/upload")
    async def upload(request: Request) -> dict[str, int]:
        observe(request)
        return {"size": len(await request.body())}

    @app.get("/boom")
    async def boom(request: Request) -> None:
        observe(request)
        raise RuntimeError("boom")

    async def silent(scope: Any, receive: Any, send: Any) -> None:
        return  # answers nothing: the server will say 500

    app.mount("/silent", silent)
    return app


def _scope(
    method: str = "GET",
    path: str = "/items/7",
    headers: list[tuple[bytes, bytes]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers if headers is not None else [(b"host", b"shop.example")],
        "client": ("10.0.0.9", 50312),
        "server": ("10.0.0.1", 8000),
    }
    scope.update(extra)
    return scope


TRACEPARENT = f"00-{REMOTE_TRACE:032x}-{REMOTE_SPAN:016x}".encode()

SCOPES = [
    _scope(),
    _scope(headers=[(b"host", b"shop.example:8443")]),
    _scope(headers=[(b"host", b"[::1]:8000")]),
    _scope(headers=[(b"host", b"user@shop.example")]),  # FastAPI: no server attributes
    _scope(headers=[(b"host", b"shop.example:notaport")]),  # malformed
    _scope(headers=[(b"host", b"a.example"), (b"host", b"b.example")]),  # the first counts
    _scope(headers=[]),  # no Host: the server address
    _scope(headers=[], server=None),
    _scope(headers=[], server=["10.0.0.1", 8000]),  # a list, as some servers give it
    _scope(scheme="https", headers=[(b"host", b"shop.example")]),
    _scope(scheme="https", headers=[(b"host", b"shop.example:443")]),
    _scope(http_version="2"),
    _scope(http_version=""),
    _scope(method="PURGE"),
    _scope(method="get"),
    _scope(query_string=b"q=shoes&token=abc&sig=s1&page=2&empty="),
    _scope(query_string=b"password=hunter2&X-Amz-Signature=x&redirect=%2Fhome"),
    _scope(root_path="/svc", path="/svc/items/7"),
    _scope(path="/items/notanumber"),
    _scope(path="/nothing/here"),
    _scope(method="DELETE"),
    _scope(path="/boom"),
    _scope(path="/silent/x"),
    _scope(headers=[(b"host", b"shop.example"), (b"traceparent", TRACEPARENT + b"-01")]),
    _scope(
        headers=[
            (b"traceparent", TRACEPARENT + b"-01"),
            (b"tracestate", b"vendor=1,other=2"),
            (b"baggage", b"user=ada"),
            (b"baggage", b"tenant=7"),
            (b"host", b"shop.example"),
        ]
    ),
    _scope(headers=[(b"baggage", b"user=ada")]),
    _scope(headers=[(b"traceparent", b"00-garbage-01")]),
]


async def _call(app: Any, scope: dict[str, Any], body: list[dict[str, Any]]) -> list[Any]:
    sent: list[Any] = []
    incoming = list(body)

    async def receive() -> dict[str, Any]:
        if incoming:
            return incoming.pop(0)
        await asyncio.sleep(0)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append((message["type"], message.get("status")))

    try:
        await app(dict(scope, headers=list(scope["headers"])), receive, send)
    except Exception as exc:
        sent.append(type(exc).__name__)
    return sent


def _drive_scopes(builder: str, requests: list[tuple[dict[str, Any], list[Any]]]) -> list[Any]:
    seen: list[Any] = []
    with _traced(builder) as cap:
        app = _instrumented(_app(seen), cap, builder)

        async def main() -> list[Any]:
            return [await _call(app, scope, body) for scope, body in requests]

        answers = asyncio.run(main())
        return [answers, seen, _normal(cap.spans())]


def test_raw_requests_spans_are_fastapis() -> None:
    requests = [(scope, [{"type": "http.request", "body": b""}]) for scope in SCOPES]
    ours, theirs = (_drive_scopes(b, requests) for b in BUILDERS)
    assert ours == theirs
    spans = ours[2]
    assert len(spans) == len(SCOPES)
    # The picture holds what the test means to compare.
    attributes = [dict(s[2]) for s in spans]
    assert {a.get("server.address") for a in attributes} >= {"shop.example", "::1", "10.0.0.1"}
    assert any("token=REDACTED" in str(a.get("url.query")) for a in attributes)
    assert any(s[7] and s[7][0] == "remote" for s in spans)
    assert any(s[0].startswith("HTTP ") for s in spans)  # a non-standard method


def test_disconnects_and_streamed_bodies() -> None:
    upload = _scope(method="POST", path="/upload")
    chunked = [
        {"type": "http.request", "body": b"ab", "more_body": True},
        {"type": "http.request", "body": b"cd", "more_body": False},
    ]
    requests = [
        (upload, chunked),
        (upload, [{"type": "http.disconnect"}]),  # gone before the body
        (upload, [{"type": "http.request", "body": b"ab", "more_body": True}]),  # then gone
    ]
    ours, theirs = (_drive_scopes(b, requests) for b in BUILDERS)
    assert ours == theirs
    assert any("error.type" in dict(s[2]) for s in ours[2])
