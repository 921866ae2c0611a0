"""HTTP request metrics: the ASGI middleware and the request recorder.

Labels are bounded whatever clients send: ``route`` is the route template the
router matched (``/orders/{order_id}``) or ``unmatched``; ``method`` is one of
the standard HTTP methods or ``_OTHER``; ``status_code`` is the status the
application sent (``500`` for an unhandled exception before any response).
Metrics are recorded here, not from spans, so they are complete whatever the
trace sampler does.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from time import perf_counter
from typing import Any

from azora_otel._error_rate import ErrorRateWindow
from azora_otel._exposition import ExactNamePrometheusReader
from azora_otel._exposition_http import serve_exposition
from azora_otel._histogram import BucketCounts
from azora_otel._instruments import HTTP_DURATION_BUCKETS_MS, Instruments
from azora_otel._logs import emit, trace_ids

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

UNMATCHED_ROUTE = "unmatched"
"""The ``route`` label of requests that matched no route (404s of unknown paths, scans)."""

OTHER_METHOD = "_OTHER"
"""The ``method`` label of methods outside the standard set."""

STANDARD_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "QUERY"}
)
_METHOD = {m: m for m in STANDARD_METHODS}
_CLIENT_CLOSED = 499
_MAX_CACHED_LABEL_SETS = 10_000


Mounts = Sequence[tuple["re.Pattern[str]", str]]
"""``(regex, template)`` of an application's mounted sub-applications (``app.mount``)."""

_TIMED = "azora_otel.timed"
"""Scope key set by the outermost middleware: a mounted FastAPI sub-application has its
own middleware, which must not count the same request a second time."""


def route_template(scope: Scope, root_path: str = "", mounts: Mounts = ()) -> str:
    """The template of the route that handled ``scope``, or :data:`UNMATCHED_ROUTE`.

    ``root_path`` is the scope's root path before routing: when a mount matched, the
    router appended the mount's prefix to it, and the mount's template (``/v2``,
    ``/tenants/{tenant}``) is put in front of the inner route's.
    """
    route = scope.get("route")
    if route is None:
        return UNMATCHED_ROUTE
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    if not isinstance(template, str) or not template:
        return UNMATCHED_ROUTE
    routed_root = scope.get("root_path", "")
    if mounts and routed_root != root_path and isinstance(routed_root, str):
        prefix = routed_root[len(root_path) :]
        for regex, mount_template in mounts:
            if regex.fullmatch(prefix):
                return mount_template + template
    return template


def mounts_of(app: Any) -> list[tuple[re.Pattern[str], str]]:
    """The mounted sub-applications of a Starlette/FastAPI ``app``, as :data:`Mounts`."""
    from starlette.routing import Mount, compile_path  # noqa: PLC0415

    found = []
    for route in getattr(app, "routes", ()):
        if isinstance(route, Mount) and route.path:
            regex, template, _ = compile_path(route.path)
            found.append((regex, template))
    return found


def normalize_method(method: object) -> str:
    return _METHOD.get(method, OTHER_METHOD) if isinstance(method, str) else OTHER_METHOD


class RequestRecorder:
    """Turns one finished request into the contract's measurements."""

    def __init__(
        self,
        instruments: Instruments,
        threshold_ms: float,
        error_window: ErrorRateWindow,
    ) -> None:
        self._duration = instruments.request_duration.record
        self._requests = instruments.requests.add
        self._slow = instruments.slow_requests.add
        self.threshold_ms = threshold_ms
        self.error_window = error_window
        self.histogram = BucketCounts(HTTP_DURATION_BUCKETS_MS)
        self.total = 0
        self.errors = 0
        self.slow = 0
        self._labels: dict[tuple[str, str, int], dict[str, str]] = {}

    def record(
        self, method: str, route: str, status: int, duration_ms: float, failed: bool
    ) -> None:
        key = (method, route, status)
        labels = self._labels.get(key)
        if labels is None:
            labels = {"method": method, "route": route, "status_code": str(status)}
            if len(self._labels) < _MAX_CACHED_LABEL_SETS:
                self._labels[key] = labels
        self._duration(duration_ms, labels)
        self._requests(key, labels)
        error = failed or status >= 500
        self.total += 1
        if error:
            self.errors += 1
        self.error_window.record(error)
        self.histogram.observe(duration_ms)
        if duration_ms > self.threshold_ms:
            self.slow += 1
            self._slow(1, {"method": method, "route": route})
            emit(
                logging.WARNING,
                "slow_request",
                "slow request",
                {
                    "method": method,
                    "route": route,
                    "status_code": status,
                    "duration_ms": round(duration_ms, 3),
                    "threshold_ms": self.threshold_ms,
                    **trace_ids(),
                },
            )


class MetricsMiddleware:
    """Pure ASGI middleware: times every HTTP request and serves the exposition path."""

    def __init__(
        self,
        app: ASGIApp,
        recorder: Callable[[], RequestRecorder | None],
        exposition: Callable[[], ExactNamePrometheusReader | None],
        metrics_path: str | None,
        *,
        on_shutdown: Callable[[], None] | None = None,
        mounts: Mounts = (),
    ) -> None:
        self.app = app
        self._recorder = recorder
        self._exposition = exposition
        self._metrics_path = metrics_path
        self._on_shutdown = on_shutdown
        self._mounts = mounts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan" and self._on_shutdown is not None:
                await self.app(scope, receive, _flushing_on_shutdown(send, self._on_shutdown))
            else:
                await self.app(scope, receive, send)
            return
        if _TIMED in scope:  # an outer application's middleware is timing this request
            await self.app(scope, receive, send)
            return
        if self._metrics_path is not None and scope.get("path") == self._metrics_path:
            reader = self._exposition()
            if reader is not None and scope.get("method") in ("GET", "HEAD"):
                await _serve_exposition(reader, scope, send)
                return
        scope[_TIMED] = True
        root_path = scope.get("root_path", "")
        status = 0

        async def send_recording_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        start = perf_counter()
        failed = False
        try:
            await self.app(scope, receive, send_recording_status)
        except Exception:
            failed = True
            raise
        except BaseException:  # cancelled: the client went away before an answer
            if not status:
                status = _CLIENT_CLOSED
            raise
        finally:
            duration_ms = (perf_counter() - start) * 1000.0
            try:
                recorder = self._recorder()
                if recorder is not None:
                    recorder.record(
                        normalize_method(scope.get("method")),
                        route_template(scope, root_path, self._mounts),
                        status or 500,
                        duration_ms,
                        failed,
                    )
            except Exception:
                logging.getLogger("azora_otel").debug("recording a request failed", exc_info=True)


def _flushing_on_shutdown(send: Send, flush: Callable[[], None]) -> Send:
    """Wraps the lifespan ``send``: flush telemetry before reporting shutdown complete.

    Servers may end the process without running ``atexit`` handlers (uvicorn
    re-raises SIGTERM after a graceful shutdown), so the last metrics and spans are
    pushed here, while the server still waits for the application.
    """

    async def send_after_flush(message: Message) -> None:
        if message.get("type") in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
            try:
                await asyncio.get_running_loop().run_in_executor(None, flush)
            except Exception:
                logging.getLogger("azora_otel").warning("flush at shutdown failed", exc_info=True)
        await send(message)

    return send_after_flush


async def _serve_exposition(reader: ExactNamePrometheusReader, scope: Scope, send: Send) -> None:
    await serve_exposition(reader, scope, send)
