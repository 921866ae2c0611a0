"""Sensitive query parameters never leave the process in a span.

FastAPI's native server span records ``url.query`` with only its own short list
redacted (``X-Amz-Signature``, ``sig``, ``X-Goog-Signature``...): a request to
``/login?token=abc&password=hunter2`` would export both values. The semantic
conventions say sensitive query content SHOULD be scrubbed when it can be told,
so the distro adds :class:`RedactingSpanProcessor` to every tracer provider it
builds: when a span starts, and whenever one of them is set again later, the
values of sensitive parameters in ``url.query`` (and the query part of
``url.full``, ``http.target``, ``http.url``, which older instrumentations set)
are replaced by ``REDACTED``. Parameter names stay, so the span still shows
*that* a token was sent.

Which names are sensitive is decided by :func:`azora_otel._secret_names.is_sensitive`
(read as words: ``access_key``, ``client_secret``, ``X-Amz-Security-Token``,
``SAMLResponse``, ``jwt``, ``pageToken`` is not), tested against a table of the
parameter names real APIs use.

Request headers are not in the spans to begin with: FastAPI's native server span
records the ``Host`` (as ``server.address``) and no other header; the contrib
middleware used on FastAPI < 0.142 adds ``User-Agent`` (``user_agent.original``)
and the client address, and records other headers only when the application opts
in with ``OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST``.
"""

from __future__ import annotations

from collections.abc import Mapping

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.util.types import AnyValue

from azora_otel._secret_names import is_sensitive

__all__ = ["REDACTED", "RedactingSpanProcessor", "install_redaction", "is_sensitive"]

REDACTED = "REDACTED"

_QUERY_ATTRIBUTES = ("url.query",)
_URL_ATTRIBUTES = ("url.full", "http.target", "http.url")
_ALL_URL_ATTRIBUTES = frozenset(_QUERY_ATTRIBUTES + _URL_ATTRIBUTES)


def redact_query(query: str) -> str:
    """``query`` with the values of sensitive parameters replaced by ``REDACTED``."""
    parts = query.split("&")
    changed = False
    for i, part in enumerate(parts):
        name, sep, value = part.partition("=")
        if sep and value != REDACTED and is_sensitive(name):
            parts[i] = f"{name}={REDACTED}"
            changed = True
    return "&".join(parts) if changed else query


def redact_url(url: str) -> str:
    """``url`` (absolute or a target such as ``/path?q``) with its query redacted."""
    head, sep, rest = url.partition("?")
    if not sep:
        return url
    query, hash_sep, fragment = rest.partition("#")
    return f"{head}?{redact_query(query)}{hash_sep}{fragment}"


def _redact_attribute(key: str, value: str) -> str:
    if key in _QUERY_ATTRIBUTES and "=" in value:
        return redact_query(value)
    if key in _URL_ATTRIBUTES and "?" in value:
        return redact_url(value)
    return value


class _RedactingAttributes(BoundedAttributes):
    """A span's attributes that redact URL values whenever one is set.

    The contrib ASGI middleware sets its request attributes a second time right after
    the span started, so scrubbing them once in ``on_start`` is not enough; every
    write (``set_attribute``, ``set_attributes``) ends in ``_setitem_locked``.
    """

    def _setitem_locked(self, key: str, value: AnyValue) -> None:
        if isinstance(value, str) and key in _ALL_URL_ATTRIBUTES:
            value = _redact_attribute(key, value)
        super()._setitem_locked(key, value)


class RedactingSpanProcessor(SpanProcessor):
    """Scrubs sensitive query values from a span's URL attributes, at start and on
    every later write."""

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        try:
            attributes = getattr(span, "_attributes", None)
            if type(attributes) is BoundedAttributes:
                attributes.__class__ = _RedactingAttributes  # later writes
            # Read the plain dict: the SDK's read-only view costs about 3 µs per span
            # for the four lookups below, usually all absent (nothing else can see the
            # span while it starts).
            values: Mapping[str, AnyValue] | None = (
                attributes._dict if isinstance(attributes, BoundedAttributes) else span.attributes
            )
            if not values:
                return
            for key in _ALL_URL_ATTRIBUTES:
                value = values.get(key)
                if isinstance(value, str):
                    redacted = _redact_attribute(key, value)
                    if redacted != value:
                        span.set_attribute(key, redacted)
        except Exception:  # noqa: BLE001, S110 - a span processor never raises into a request
            pass

    def on_end(self, span: ReadableSpan) -> None:
        return

    def shutdown(self) -> None:
        return

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


_INSTALLED = "_azora_redacting"


def install_redaction(provider: TracerProvider) -> None:
    """Add one :class:`RedactingSpanProcessor` to ``provider`` (idempotent)."""
    if getattr(provider, _INSTALLED, False):
        return
    provider.add_span_processor(RedactingSpanProcessor())
    setattr(provider, _INSTALLED, True)
