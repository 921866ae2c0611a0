"""One HTTP request in flight: the status sent, the end of the response, the recording.

The request ends when its last body chunk is sent (``more_body`` false, or the last
trailers, or a ``pathsend``), as FastAPI's own telemetry ends its server span; what
the application runs after that (background tasks) is not the request's latency. The
status is the one sent; with no response at all the server answers 500 (recorded as
500), or the client went away first (recorded as 499, not an error).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from time import perf_counter
from typing import Any, Protocol

from azora_otel._logs import emit, trace_ids

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Send = Callable[[Message], Awaitable[None]]

OTHER_METHOD = "_OTHER"
"""The ``method`` label of methods outside the standard set."""

STANDARD_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "QUERY"}
)
_METHOD = {m: m for m in STANDARD_METHODS}
CLIENT_CLOSED = 499
"""The status recorded when the client went away before any response (nginx's code)."""
NO_RESPONSE = 500
"""The status recorded when the application sent no response: the server answers 500."""


def normalize_method(method: object) -> str:
    return _METHOD.get(method, OTHER_METHOD) if isinstance(method, str) else OTHER_METHOD


class Recorder(Protocol):
    """What a finished request is recorded into (:class:`azora_otel._http.RequestRecorder`)."""

    def record(self, method: str, route: str, status: int, duration_ms: float) -> None: ...


class RouteLabels(Protocol):
    """Per-request route labelling (:mod:`azora_otel._routes`)."""

    def begin(self, scope: Scope) -> Any: ...
    def label(self, scope: Scope, token: Any) -> str: ...
    def end(self, scope: Scope, token: Any) -> None: ...


class Exchange:
    """One request on its way through: what was sent, and when it was complete."""

    __slots__ = (
        "_send",
        "answering",
        "done",
        "recorder",
        "routes",
        "scope",
        "start",
        "status",
        "token",
        "trailers",
    )

    def __init__(
        self,
        recorder: Callable[[], Recorder | None],
        routes: RouteLabels,
        scope: Scope,
        send: Send,
    ) -> None:
        self.recorder = recorder
        self.routes = routes
        self.scope = scope
        self._send = send
        self.token = routes.begin(scope)
        self.status = 0
        self.trailers = False
        self.done = False
        self.answering: BaseException | None = None
        self.start = perf_counter()

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self.status = message["status"]
            self.trailers = message.get("trailers", False)
            # Sent from inside an ``except`` block: an exception handler's answer.
            # ServerErrorMiddleware re-raises that exception after sending it.
            self.answering = sys.exc_info()[1]
            await self._send(message)
            return
        await self._send(message)
        # The response is complete when its last chunk is out (as FastAPI's own
        # telemetry ends its span): what runs after that is not its latency.
        if not self.done and (
            (kind == "http.response.body" and not message.get("more_body") and not self.trailers)
            or (kind == "http.response.trailers" and not message.get("more_trailers"))
            or kind == "http.response.pathsend"
        ):
            self.finish(self.status)

    def finish(self, status: int) -> None:
        self.done = True
        duration_ms = (perf_counter() - self.start) * 1000.0
        try:
            recorder = self.recorder()
            if recorder is not None:
                method = self.scope.get("method")
                recorder.record(
                    _METHOD.get(method, OTHER_METHOD) if isinstance(method, str) else OTHER_METHOD,
                    self.routes.label(self.scope, self.token),
                    status,
                    duration_ms,
                )
        except Exception:
            logging.getLogger("azora_otel").debug("recording a request failed", exc_info=True)

    def failed(self, exc: BaseException) -> None:
        """An exception left the application. Whatever it is, the request is recorded
        once, with the status the client got."""
        if exc is self.answering:  # the error the response was about: already sent
            if not self.done:
                self.finish(self.status)
        elif self.done:  # the client has its answer: a background task failed
            self._log_after_response(exc, "background_task_failed")
        elif self.status:  # the status went out, the body broke off
            self.finish(self.status)
            self._log_after_response(exc, "response_interrupted")
        else:  # no response: the server answers 500, or the client went away
            self.finish(NO_RESPONSE if isinstance(exc, Exception) else CLIENT_CLOSED)

    def _log_after_response(self, exc: BaseException, event: str) -> None:
        """Not the request's error (the client has its status), and nothing else would
        count it: one record."""
        if not isinstance(exc, Exception):
            return
        emit(
            logging.WARNING,
            event,
            "a background task failed after the response"
            if event == "background_task_failed"
            else "the response body broke off after its status was sent",
            {
                "method": normalize_method(self.scope.get("method")),
                "route": self.routes.label(self.scope, self.token),
                "status_code": self.status,
                "error_type": type(exc).__qualname__,
                **trace_ids(),
            },
        )
