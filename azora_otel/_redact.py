"""Sensitive query parameters never leave the process in a span.

FastAPI's native server span records ``url.query`` with only its own short list
redacted (``X-Amz-Signature``, ``sig``, ``X-Goog-Signature``...): a request to
``/login?token=abc&password=hunter2`` would export both values. The semantic
conventions say sensitive query content SHOULD be scrubbed when it can be told,
so the distro adds :class:`RedactingSpanProcessor` to every tracer provider it
builds: when a span starts, the values of sensitive parameters in ``url.query``
(and the query part of ``url.full``, ``http.target``, ``http.url``, which older
instrumentations set) are replaced by ``REDACTED``. Parameter names stay, so the
span still shows *that* a token was sent.

A parameter is sensitive when its name, lower-cased with ``-`` read as ``_``, is
in :data:`SENSITIVE_NAMES` or contains one of :data:`SENSITIVE_PARTS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import unquote_plus

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider

REDACTED = "REDACTED"

SENSITIVE_NAMES = frozenset(
    {
        "sig",
        "key",
        "pwd",
        "auth",
        "authorization",
        "code",
        "awsaccesskeyid",
        "x_amz_credential",
        "x_amz_security_token",
        "x_amz_signature",
        "x_goog_credential",
        "x_goog_signature",
    }
)
"""Parameter names redacted when they match exactly (normalised)."""

SENSITIVE_PARTS = (
    "token",
    "secret",
    "password",
    "passwd",
    "signature",
    "credential",
    "api_key",
    "apikey",
    "session",
)
"""Parameter names redacted when they contain one of these (normalised)."""

_QUERY_ATTRIBUTES = ("url.query",)
_URL_ATTRIBUTES = ("url.full", "http.target", "http.url")


def is_sensitive(name: str) -> bool:
    """Whether the query parameter ``name`` carries a secret by its name."""
    key = unquote_plus(name).strip().lower().replace("-", "_")
    return key in SENSITIVE_NAMES or any(part in key for part in SENSITIVE_PARTS)


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


def _plain(attributes: object) -> Mapping[str, object] | None:
    """The span's attributes as a plain mapping, without the SDK's per-lookup overhead.

    ``span.attributes`` is a read-only view of a locked mapping whose ``get`` goes
    through ``__getitem__`` and a ``KeyError`` for every absent key: four lookups,
    usually all absent, cost about 3 µs per span. The SDK's own container keeps a
    plain dict, read here directly (this runs while the span starts, before any
    other thread can see it).
    """
    if type(attributes) is BoundedAttributes:
        return attributes._dict
    return attributes if isinstance(attributes, Mapping) else None


class RedactingSpanProcessor(SpanProcessor):
    """Scrubs sensitive query values from a span's URL attributes when it starts."""

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        try:
            attributes = _plain(getattr(span, "_attributes", None))
            if attributes is None:
                attributes = span.attributes
            if not attributes:
                return
            for key in _QUERY_ATTRIBUTES:
                value = attributes.get(key)
                if isinstance(value, str) and "=" in value:
                    redacted = redact_query(value)
                    if redacted != value:
                        span.set_attribute(key, redacted)
            for key in _URL_ATTRIBUTES:
                value = attributes.get(key)
                if isinstance(value, str) and "?" in value:
                    redacted = redact_url(value)
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
