"""FastAPI's native server span, built as FastAPI builds it, minus the work it repeats.

For a request it traces, FastAPI's ``NativeTelemetry`` (>= 0.142) parses the
``Host`` header with ``urlsplit`` (the same few hosts on every request), runs the
propagators over a ``Headers`` copy even when no trace header was sent, and
switches the current context three times (the extracted parent, its per-request
record, the span) through ``attach`` calls and ``use_span``'s generator. On the
project's machine that is about a fifth of what a traced request costs on top of
metrics-only mode.

:class:`ServerSpan` runs the same steps for the requests the sampling gate lets
through, with FastAPI's own helpers wherever the result depends on the request:

- the ``server.address``/``server.port`` FastAPI's ``_server_attributes`` gives
  for a ``Host`` header (or, without one, for the scheme and server address),
  computed once per distinct value;
- the parent context the gate already extracted (or an empty context when the
  request carries no trace header and the propagators are the default ones, which
  is what extracting would give);
- one ``attach`` of the context FastAPI's three leave current: the parent's
  values, FastAPI's per-request record, the span.

The span is the one FastAPI makes: the same tracer (FastAPI's), name, kind,
parent, attributes with the same values in the same order, route and status set
by FastAPI's routing and at the last body chunk, ``error.type`` and the error
status on failures, the same per-request record for FastAPI's routing, operation
spans and exception hooks. FastAPI's code runs instead for every configuration
this does not cover (its own metrics or logs on, WebSockets, excluded requests,
an application that also has the contrib middleware) and for FastAPI versions
whose ``NativeTelemetry`` was not compared with it (see :data:`SUPPORTED`).
``AZORA_SERVER_SPAN=fastapi`` always runs FastAPI's code.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.trace.propagation import _SPAN_KEY

_MAX_CACHED_HOSTS = 256

try:  # FastAPI >= 0.142
    import fastapi
    from fastapi.telemetry import _asgi
    from fastapi.telemetry._api import _REQUEST_TELEMETRY_KEY, _exception_type, _RequestTelemetry

    _VERSION = tuple(int(part) for part in fastapi.__version__.split(".")[:2])
    SUPPORTED = (0, 150) <= _VERSION <= (0, 165)
    """FastAPI versions whose ``NativeTelemetry.__call__`` this module was checked
    against (the same code from 0.150 to 0.165)."""
except (ImportError, ValueError):  # pragma: no cover - no native telemetry to build
    SUPPORTED = False


class _Flow:
    """The request's ``send``/``receive`` wrappers and the span's end, as FastAPI's."""

    __slots__ = (
        "attributes",
        "disconnected",
        "finished",
        "receive_",
        "send_",
        "span",
        "telemetry",
        "trailers",
    )

    def __init__(
        self, span: Any, telemetry: Any, attributes: dict[str, Any], send: Any, receive: Any
    ) -> None:
        self.span = span
        self.telemetry = telemetry
        self.attributes = attributes
        self.send_ = send
        self.receive_ = receive
        self.finished = False
        self.trailers = False
        self.disconnected = False

    def finish(self, error: BaseException | None = None) -> None:
        if self.finished:
            return
        self.finished = True
        telemetry = self.telemetry
        attributes = self.attributes
        if telemetry.route is not None:
            attributes["http.route"] = telemetry.route
        status = telemetry.status_code
        if status is not None:
            attributes["http.response.status_code"] = status
        failed = error is not None or status is None or status >= 500
        if failed:
            errors = telemetry._exceptions
            failure = error or (errors[-1] if errors else None)
            attributes["error.type"] = (
                _exception_type(failure) if failure else str(status or "incomplete_response")
            )
        span = self.span
        span.set_attributes(attributes)
        if failed:
            span.set_status(StatusCode.ERROR)
        span.end()

    async def send(self, message: MutableMapping[str, Any]) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self.telemetry.status_code = message["status"]
            self.trailers = message.get("trailers", False)
        await self.send_(message)
        if (
            (
                kind == "http.response.body"
                and not message.get("more_body", False)
                and not self.trailers
            )
            or (kind == "http.response.trailers" and not message.get("more_trailers", False))
            or kind == "http.response.pathsend"
        ):
            self.finish()

    async def receive(self) -> MutableMapping[str, Any]:
        message: MutableMapping[str, Any] = await self.receive_()
        if message["type"] == "http.disconnect":
            self.disconnected = True
        return message


class ServerSpan:
    """FastAPI's server span for one application's ``NativeTelemetry`` (see the module doc)."""

    def __init__(self, native: Any) -> None:
        self._native = native
        self._servers: dict[tuple[Any, ...], dict[str, Any]] = {}

    def _server(self, scope: MutableMapping[str, Any], host: bytes | None) -> dict[str, Any]:
        """``server.address``/``server.port`` as FastAPI's ``_server_attributes`` gives them
        (they depend on the first ``Host`` header, else on the server address, and on
        the scheme for the default port)."""
        server = scope.get("server")
        key = (host, scope.get("scheme", "http"), None if host is not None else server)
        try:
            found = self._servers.get(key)
        except TypeError:  # an unhashable server address (a list): not cached
            return _asgi._server_attributes(scope)
        if found is None:
            found = _asgi._server_attributes(scope)
            if len(self._servers) < _MAX_CACHED_HOSTS:
                self._servers[key] = found
        return found

    def _start_attributes(
        self,
        scope: MutableMapping[str, Any],
        host: bytes | None,
        attributes: dict[str, Any],
        original_method: str,
    ) -> dict[str, Any]:
        """The span's attributes at its start, in FastAPI's order: ``attributes``, the
        server's address and port, the path, the query (FastAPI's secrets redacted), the
        original method when it is not a standard one."""
        span_attributes = {**attributes, **self._server(scope, host)}
        span_attributes["url.path"] = scope["path"]
        if scope.get("query_string"):
            span_attributes["url.query"] = urlencode(
                [
                    (key, "REDACTED" if key in _asgi._SENSITIVE_QUERY_PARAMETERS else value)
                    for key, value in parse_qsl(
                        scope["query_string"].decode("latin-1"), keep_blank_values=True
                    )
                ]
            )
        if original_method != attributes["http.request.method"]:
            span_attributes["http.request.method_original"] = original_method
        return span_attributes

    async def __call__(
        self,
        app: Any,
        scope: MutableMapping[str, Any],
        receive: Any,
        send: Any,
        *,
        provider: Any,
        parent: Context,
        host: bytes | None,
    ) -> None:
        native = self._native
        original_method = scope.get("method", "")
        method = original_method if original_method in native._known_methods else "_OTHER"
        span_method = "HTTP" if method == "_OTHER" else method
        attributes: dict[str, Any] = {
            "url.scheme": scope.get("scheme", "http"),
            "http.request.method": method,
        }
        if scope.get("http_version"):
            attributes["network.protocol.version"] = scope["http_version"]
        tracer = native._get_tracer(provider=provider)
        span_attributes = self._start_attributes(scope, host, attributes, original_method)
        span = tracer.start_span(
            span_method, context=parent, kind=SpanKind.SERVER, attributes=span_attributes
        )
        telemetry = _RequestTelemetry(
            span=span,
            span_method=span_method,
            tracer=tracer if native.config["operation_spans"] else None,
            logger=None,
            _mount_prefix=scope.get("app_root_path", scope.get("root_path", "")).rstrip("/"),
        )
        scope["fastapi.telemetry"] = telemetry
        flow = _Flow(span, telemetry, attributes, send, receive)
        token = otel_context.attach(
            Context({**parent, _REQUEST_TELEMETRY_KEY: telemetry, _SPAN_KEY: span})
        )
        try:
            try:
                await app(scope, flow.receive, flow.send)
            except BaseException as exc:
                _asgi._exception(scope=scope, exc=exc)
                flow.finish(exc)
                raise
            finally:
                if not flow.finished:
                    flow.finish(
                        ConnectionError("Client disconnected")
                        if flow.disconnected
                        else RuntimeError("Incomplete ASGI response")
                    )
        finally:
            telemetry.data = None
            telemetry._exceptions.clear()
            otel_context.detach(token)
            scope.pop("fastapi.telemetry", None)
