"""FastAPI's native server span, skipped whole for the requests the sampler drops.

FastAPI (>= 0.142) builds the server span's attributes (method, scheme, host and
port parsed from the ``Host`` header, path, query, the propagated parent) before
``start_span`` asks the sampler, and then wraps ``send``/``receive`` and sets the
route and status on the span, whatever the sampler says. At a 1 % ratio that is
about 25 µs of work per request thrown away 99 times in 100.

:class:`GatedNativeTelemetry` wraps an application's ``NativeTelemetry`` and
decides first, with :class:`~azora_otel._sampling.SamplingGate`: a request whose
span would be dropped runs the application directly, inside a context holding the
non-recording span the SDK would have made (same trace id and flags, so SQL spans
under it are dropped and outgoing calls propagate the same trace). A sampled
request goes through FastAPI's own code unchanged. Nothing changes when FastAPI's
own metrics or logs are on for the app (they need its code on every request), for
WebSockets, or when the provider has no gate.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from opentelemetry import _logs, propagate, trace
from opentelemetry import context as otel_context
from opentelemetry._logs import _internal as _logs_internal
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.context import Context
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import SpanContext
from opentelemetry.trace.propagation import _SPAN_KEY
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from azora_otel._sampling import SamplingGate, gate_of, reset_handoff, set_handoff
from azora_otel._server_span import SUPPORTED, ServerSpan

_TRACE_HEADERS = frozenset({b"traceparent", b"baggage"})
"""What the default propagators (``tracecontext,baggage``) read; without them a request
starts a new trace."""


class _RawHeaders(Getter[list[tuple[bytes, bytes]]]):
    """Reads ASGI headers as FastAPI's native telemetry does (baggage values joined)."""

    def get(self, carrier: list[tuple[bytes, bytes]], key: str) -> list[str] | None:
        wanted = key.lower().encode("latin-1")
        values = [v.decode("latin-1") for k, v in carrier if k == wanted]
        if not values:
            return None
        if wanted == b"baggage":
            return [",".join(values)]
        return values

    def keys(self, carrier: list[tuple[bytes, bytes]]) -> list[str]:
        return [k.decode("latin-1") for k, _ in carrier]


_GETTER = _RawHeaders()


def _default_propagation(propagator: object) -> bool:
    """Whether ``propagator`` is the SDK default: W3C trace context and baggage only."""
    if not isinstance(propagator, CompositePropagator):
        return False
    kinds = {type(p) for p in propagator._propagators}
    return kinds <= {TraceContextTextMapPropagator, W3CBaggagePropagator}


class GatedNativeTelemetry:
    """Drop-in for FastAPI's ``NativeTelemetry`` that skips it for dropped requests
    and, with ``server_span``, builds the span of sampled ones with
    :class:`~azora_otel._server_span.ServerSpan`."""

    def __init__(
        self, native: Any, *, logger_provider_from_env: bool = False, server_span: bool = False
    ) -> None:
        self._native = native
        self._logger_provider_from_env = logger_provider_from_env
        self._server_span = (
            ServerSpan(native)
            if server_span and SUPPORTED and hasattr(native, "_get_tracer")
            else None
        )
        self.config = native.config
        self._propagator: object = None
        self._default_propagation = False
        self._logs_provider: object = None
        self._logs_active = False

    def enabled(self) -> bool:
        return bool(self._native.enabled())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._native, name)

    def _gate_applies(self, scope: MutableMapping[str, Any]) -> SamplingGate | None:
        config = self.config
        if scope["type"] != "http" or not config.get("tracing") or config.get("metrics"):
            return None
        if config.get("logs"):
            provider = config.get("logger_provider") or _global_logger_provider(
                self._logger_provider_from_env
            )
            if provider is not self._logs_provider:  # FastAPI's rule, once per provider
                self._logs_active = _native_logs_active(config, provider)
                self._logs_provider = provider
            if self._logs_active:
                return None
        exclude = config.get("exclude")
        if exclude is not None and exclude(scope):
            return None  # FastAPI's own cheap path for excluded requests
        return gate_of(config.get("tracer_provider") or trace.get_tracer_provider())

    def _traced(self, headers: Any) -> tuple[bool, Any, bytes | None]:
        """Whether the request may carry a propagated context, the propagator, and the
        first ``Host`` header."""
        propagator = propagate.get_global_textmap()
        if propagator is not self._propagator:
            self._default_propagation = _default_propagation(propagator)
            self._propagator = propagator
        traced = not self._default_propagation
        host = None
        for name, value in headers:
            if name == b"host":
                if host is None:
                    host = value
            elif name in _TRACE_HEADERS:
                traced = True
        return traced, propagator, host

    async def _sampled(  # noqa: PLR0917 - the hot path passes positionally
        self,
        app: Any,
        scope: MutableMapping[str, Any],
        receive: Any,
        send: Any,
        parent: Context,
        host: bytes | None,
    ) -> None:
        """A request whose span is sampled: FastAPI's span, built by FastAPI or by
        :class:`ServerSpan` from the parent context already extracted."""
        if self._server_span is None:
            await self._native(app=app, scope=scope, receive=receive, send=send)
            return
        provider = self.config.get("tracer_provider") or trace.get_tracer_provider()
        await self._server_span(
            app, scope, receive, send, provider=provider, parent=parent, host=host
        )

    async def __call__(
        self,
        *,
        app: Any,
        scope: MutableMapping[str, Any],
        receive: Any,
        send: Any,
        legacy_otel: bool = False,
    ) -> None:
        gate = None if legacy_otel else self._gate_applies(scope)
        if gate is None:
            await self._native(
                app=app, scope=scope, receive=receive, send=send, legacy_otel=legacy_otel
            )
            return
        headers = scope.get("headers") or ()
        traced, propagator, host = self._traced(headers)
        if not traced and gate.roots_always_sampled:
            await self._sampled(app, scope, receive, send, Context(), host)
            return
        # FastAPI's parent context comes from the headers alone, never from the current one.
        parent_context = propagator.extract(list(headers), getter=_GETTER) if traced else Context()
        parent: SpanContext | None = None
        if traced:
            found = trace.get_current_span(parent_context).get_span_context()
            parent = found if found.is_valid else None
        if parent is not None:
            trace_id, sampled = parent.trace_id, gate.child_sampled(parent)
        else:
            trace_id, sampled = gate.root_trace_id()
        if sampled:
            # The SDK decides again inside FastAPI's start_span, on the same id.
            token = set_handoff(trace_id) if parent is None else None
            try:
                await self._sampled(app, scope, receive, send, parent_context, host)
            finally:
                if token is not None:
                    reset_handoff(token)
            return
        # What FastAPI's code leaves current for a dropped span: the extracted context, the
        # non-recording span; and, as for its excluded requests, no request telemetry.
        values = {**parent_context, _SPAN_KEY: gate.dropped_span(parent, trace_id)}
        if _REQUEST_TELEMETRY_KEY is not None:
            values[_REQUEST_TELEMETRY_KEY] = None
        scope["fastapi.telemetry"] = None  # mounted FastAPI apps: no span of their own
        token = otel_context.attach(Context(values))
        try:
            await app(scope, receive, send)
        finally:
            otel_context.detach(token)
            scope.pop("fastapi.telemetry", None)


def _global_logger_provider(from_env: bool) -> Any:
    """``_logs.get_logger_provider()`` without its per-call environment lookup: the
    global is read directly unless a provider may still come from the environment
    (``from_env``: ``OTEL_PYTHON_LOGGER_PROVIDER`` is set, ``Settings.logger_provider``)."""
    provider = getattr(_logs_internal, "_LOGGER_PROVIDER", None)
    if provider is not None:
        return provider
    if from_env:
        return _logs.get_logger_provider()
    return getattr(_logs_internal, "_PROXY_LOGGER_PROVIDER", None) or _logs.get_logger_provider()


def _native_logs_active(config: Any, provider: Any) -> bool:
    """FastAPI's own rule for whether it emits its exception log records."""
    deferred = config.get("logger_provider") is None and _unconfigured(provider)
    return not (deferred or isinstance(provider, _logs.NoOpLoggerProvider))


_KEY: str | None
try:
    from fastapi.telemetry._api import _REQUEST_TELEMETRY_KEY as _KEY
    from fastapi.telemetry._api import _unconfigured
except ImportError:  # FastAPI < 0.142: no native telemetry to gate
    _KEY = None

    def _unconfigured(provider: Any) -> bool:
        return True


_REQUEST_TELEMETRY_KEY: str | None = _KEY


def gate_native_telemetry(
    app: Any, *, logger_provider_from_env: bool = False, server_span: bool = False
) -> None:
    """Wrap ``app``'s native telemetry (FastAPI >= 0.142) with the sampling gate (idempotent).

    ``logger_provider_from_env``: whether the OpenTelemetry API may still build a global
    logger provider from ``OTEL_PYTHON_LOGGER_PROVIDER`` (``Settings.logger_provider``).
    ``server_span``: sampled requests' spans built by :class:`ServerSpan`.
    """
    native = getattr(app, "_native_telemetry", None)
    if native is None or isinstance(native, GatedNativeTelemetry):
        return
    app._native_telemetry = GatedNativeTelemetry(
        native, logger_provider_from_env=logger_provider_from_env, server_span=server_span
    )
