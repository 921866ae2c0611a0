"""HTTP request metrics: the ASGI middleware and the request recorder.

The middleware wraps the whole middleware stack, outside Starlette's
``ServerErrorMiddleware``, so it sees what the client receives: the status of
whatever answered (a route, an exception handler including the catch-all one, a
middleware that short-circuits). Labels are bounded whatever clients send:
``route`` is the full route template (see :mod:`azora_otel._routes`) or
``unmatched``; ``method`` is one of the standard HTTP methods or ``_OTHER``.
A request is measured until its last body chunk is sent: background tasks run
after that and are not its latency. Metrics are recorded here, not from spans,
so they are complete whatever the trace sampler does.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from azora_otel._error_rate import ErrorRateWindow
from azora_otel._exchange import NO_RESPONSE, Exchange, RouteLabels
from azora_otel._exposition import ExactNamePrometheusReader
from azora_otel._exposition_http import serve_exposition
from azora_otel._histogram import BucketCounts
from azora_otel._instruments import HTTP_DURATION_BUCKETS_MS, Instruments
from azora_otel._logs import emit, trace_ids
from azora_otel._record import histogram_recorder

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_MAX_CACHED_LABEL_SETS = 10_000
_EXPOSITION_METHODS = ("GET", "HEAD")

_TIMED = "azora_otel.timed"
"""Scope key set by the outermost middleware: a mounted FastAPI sub-application has its
own middleware, which must not count the same request a second time."""


class ExpositionRoute:
    """Which requests the distro answers with the exposition: ``GET``/``HEAD`` on
    ``path``. One object per application, shared by the middleware (which serves them)
    and FastAPI's span exclusion (which leaves them out), so scrapes are neither counted
    nor traced and every other request is both. ``path`` is ``None`` when the exposition
    is not served on the application's port, decided when the stack is built."""

    __slots__ = ("path",)

    def __init__(self, path: str | None) -> None:
        self.path = path

    def __call__(self, scope: Scope) -> bool:
        path = self.path
        if path is None or scope.get("method") not in _EXPOSITION_METHODS:
            return False
        # The path the app routes: below the root path (``uvicorn --root-path``).
        requested = scope.get("path")
        root = scope.get("root_path")
        return requested == path or (
            bool(root) and isinstance(root, str) and requested == root + path
        )


class RequestRecorder:
    """Turns one finished request into the contract's measurements."""

    def __init__(
        self,
        instruments: Instruments,
        threshold_ms: float,
        error_window: ErrorRateWindow,
        *,
        fast: bool = True,
    ) -> None:
        self._duration = histogram_recorder(instruments.request_duration, fast)
        self._requests = instruments.requests.add
        self._slow = instruments.slow_requests.add
        self.threshold_ms = threshold_ms
        self.error_window = error_window
        self.histogram = BucketCounts(HTTP_DURATION_BUCKETS_MS)
        self.total = 0
        self.errors = 0
        self.slow = 0
        self._labels: dict[tuple[str, str, int], dict[str, str]] = {}

    def record(self, method: str, route: str, status: int, duration_ms: float) -> None:
        """One request, into every measurement at once (counter, histogram, slow counter,
        error window, stats), so they agree. An error is a 5xx status."""
        key = (method, route, status)
        labels = self._labels.get(key)
        if labels is None:
            labels = {"method": method, "route": route, "status_code": str(status)}
            if len(self._labels) < _MAX_CACHED_LABEL_SETS:
                self._labels[key] = labels
        self._duration(duration_ms, key, labels)
        self._requests(key, labels)
        error = status >= 500
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
    """Pure ASGI middleware around the whole stack: times every HTTP request and serves
    the exposition."""

    def __init__(
        self,
        app: ASGIApp,
        recorder: Callable[[], RequestRecorder | None],
        exposition: Callable[[], ExactNamePrometheusReader | None],
        exposition_route: ExpositionRoute,
        routes: RouteLabels,
        *,
        on_shutdown: Callable[[], None] | None = None,
    ) -> None:
        self.app = app
        self._recorder = recorder
        self._exposition = exposition
        self._exposition_route = exposition_route
        self._routes = routes
        self._on_shutdown = on_shutdown

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _TIMED in scope:
            await self._pass(scope, receive, send)
            return
        exposition = self._exposition_route
        if (
            exposition.path is not None
            and (scope.get("path") == exposition.path or scope.get("root_path"))
            and exposition(scope)
        ):
            reader = self._exposition()
            if reader is not None:
                await _serve_exposition(reader, scope, send)
                return
        scope[_TIMED] = True
        exchange = Exchange(self._recorder, self._routes, scope, send)
        try:
            await self.app(scope, receive, exchange.send)
        except BaseException as exc:
            exchange.failed(exc)
            raise
        else:
            if not exchange.done:  # returned without completing a response
                exchange.finish(exchange.status or NO_RESPONSE)
        finally:
            exchange.answering = None  # an exception holds frames that hold the exchange
            self._routes.end(scope, exchange.token)

    async def _pass(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Lifespan (flush at shutdown), websockets, and requests an outer application's
        middleware is already timing."""
        if scope["type"] == "lifespan" and self._on_shutdown is not None:
            await self.app(scope, receive, _flushing_on_shutdown(send, self._on_shutdown))
        else:
            await self.app(scope, receive, send)


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
