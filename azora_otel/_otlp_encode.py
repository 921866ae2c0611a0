"""OTLP span encoding straight to protobuf bytes, with the repeated parts cached.

The upstream exporters build an ``ExportTraceServiceRequest`` out of protobuf
objects (a ``Span``, a ``KeyValue`` and an ``AnyValue`` per attribute, a
``Status``...) and serialize it: about 20 message objects for a server span, on the
same GIL as the requests. :func:`encode_spans` writes the same bytes directly:

- the resource and each instrumentation scope are encoded once, not per batch;
- an attribute whose key and value were seen before (``http.request.method=GET``,
  ``db.system=sqlite``, the route, the status code) is one dictionary lookup
  returning its encoded ``KeyValue`` (at most 2,048 of them, about 150 KiB; the
  per-request URL attributes are never cached);
- everything else is appended to a list of byte strings joined once per span.

The output is byte for byte what ``encode_spans(spans).SerializePartialToString()``
of ``opentelemetry-exporter-otlp-proto-common`` produces, for every span shape the
distro makes (``tests/test_otlp_encode.py`` checks it against the upstream
messages). ``AZORA_SPAN_ENCODER=upstream`` uses the upstream encoder instead.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util import BoundedList
from opentelemetry.trace import SpanKind

_log = logging.getLogger("azora_otel")

_FIXED64 = struct.Struct("<Q").pack
_FIXED32 = struct.Struct("<I").pack
_DOUBLE = struct.Struct("<d").pack
_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1
_SMALL = [bytes((i,)) for i in range(128)]

_KIND = {
    SpanKind.INTERNAL: b"\x30\x01",
    SpanKind.SERVER: b"\x30\x02",
    SpanKind.CLIENT: b"\x30\x03",
    SpanKind.PRODUCER: b"\x30\x04",
    SpanKind.CONSUMER: b"\x30\x05",
}
_SERVER = _KIND[SpanKind.SERVER]
_CLIENT = _KIND[SpanKind.CLIENT]
_FLAGS_LOCAL = b"\x85\x01" + _FIXED32(0x100)  # SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK
_FLAGS_REMOTE = b"\x85\x01" + _FIXED32(0x300)  # ... | SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK
_LINK_FLAGS_LOCAL = b"\x35" + _FIXED32(0x100)
_LINK_FLAGS_REMOTE = b"\x35" + _FIXED32(0x300)
_EMPTY_STATUS = b"\x7a\x00"
_SPAN_ATTRIBUTE = b"\x4a"  # Span.attributes: the only attributes worth a cache

_MAX_CACHED = 2048
_UNIQUE_PER_REQUEST = frozenset(
    {"url.path", "url.query", "url.full", "http.target", "http.url", "db.query.parameter"}
)
"""Keys whose values differ from request to request: never cached (no churn, no memory)."""
_kv_cache: dict[tuple[str, type, Any], bytes] = {}
_key_cache: dict[str, bytes] = {}
_scope_cache: dict[int, tuple[Any, bytes]] = {}
_resource_cache: dict[int, tuple[Any, bytes]] = {}


def _varint(n: int) -> bytes:
    if n < 128:
        return _SMALL[n]
    out = bytearray()
    while n > 127:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(tag: bytes, body: bytes) -> bytes:
    """A length-delimited field: tag, length, body."""
    n = len(body)
    return tag + (_SMALL[n] if n < 128 else _varint(n)) + body


def _int64(value: int) -> bytes:
    if not _INT64_MIN <= value <= _INT64_MAX:
        raise ValueError(f"integer {value} out of int64 range")
    return _varint(value & 0xFFFFFFFFFFFFFFFF)


def _any_value(value: Any) -> bytes:  # noqa: PLR0911 - one return per OTLP value type
    """The body of an ``AnyValue`` (same type order as the upstream encoder)."""
    if value is None:
        return b""
    if isinstance(value, bool):
        return b"\x10\x01" if value else b"\x10\x00"
    if isinstance(value, str):
        return _field(b"\x0a", value.encode("utf-8"))
    if isinstance(value, int):
        return b"\x18" + _int64(value)
    if isinstance(value, float):
        return b"\x21" + _DOUBLE(value)
    if isinstance(value, bytes):
        return _field(b"\x3a", value)
    if isinstance(value, Sequence):
        return _field(b"\x2a", b"".join([_field(b"\x0a", _any_value(v)) for v in value]))
    if isinstance(value, Mapping):
        body = b"".join([_field(b"\x0a", _key_value(str(k), v)) for k, v in value.items()])
        return _field(b"\x32", body)
    raise TypeError(f"Invalid type {type(value)} of value {value}")


def _key_value(key: str, value: Any) -> bytes:
    """The body of a ``KeyValue``."""
    prefix = _key_cache.get(key)
    if prefix is None:
        prefix = _field(b"\x0a", key.encode("utf-8"))
        if len(_key_cache) < _MAX_CACHED:
            _key_cache[key] = prefix
    return prefix + _field(b"\x12", _any_value(value))


def _attributes(tag: bytes, attributes: Mapping[str, Any] | None) -> list[bytes]:
    """Every attribute as a complete repeated ``KeyValue`` field with ``tag``."""
    if not attributes:
        return []
    out = []
    cache = _kv_cache if tag == _SPAN_ATTRIBUTE else None
    for key, value in attributes.items():
        cls = value.__class__
        cacheable = (
            cache is not None
            and (cls is str or cls is int or cls is bool or cls is float)
            and key not in _UNIQUE_PER_REQUEST
        )
        if cacheable:
            hit = cache.get((key, cls, value))  # type: ignore[union-attr]
            if hit is not None:
                out.append(hit)
                continue
        try:
            encoded = _field(tag, _key_value(key, value))
        except Exception:  # noqa: BLE001 - the upstream encoder logs and skips such a key
            _log.exception("Failed to encode key %s", key)
            continue
        if cacheable:
            if len(cache) >= _MAX_CACHED:  # type: ignore[arg-type]
                cache.clear()  # type: ignore[union-attr]
            cache[(key, cls, value)] = encoded  # type: ignore[index]
        out.append(encoded)
    return out


def _scope_header(scope: Any) -> bytes:
    """``ScopeSpans.scope`` (field 1) of an instrumentation scope (cached per scope)."""
    cached = _scope_cache.get(id(scope))
    if cached is not None and cached[0] is scope:
        return cached[1]
    body = b""
    if scope is not None:
        body = b"".join(
            [
                _field(b"\x0a", scope.name.encode("utf-8")) if scope.name else b"",
                _field(b"\x12", scope.version.encode("utf-8")) if scope.version else b"",
                *_attributes(b"\x1a", scope.attributes),
            ]
        )
    header = _field(b"\x0a", body)
    if len(_scope_cache) >= 256:
        _scope_cache.clear()
    _scope_cache[id(scope)] = (scope, header)
    return header


def _resource_header(resource: Any) -> bytes:
    """``ResourceSpans.resource`` (field 1) of a resource (cached per resource)."""
    cached = _resource_cache.get(id(resource))
    if cached is not None and cached[0] is resource:
        return cached[1]
    header = _field(b"\x0a", b"".join(_attributes(b"\x0a", resource.attributes)))
    if len(_resource_cache) >= 64:
        _resource_cache.clear()
    _resource_cache[id(resource)] = (resource, header)
    return header


def _events(events: Sequence[Any]) -> list[bytes]:
    out = []
    for event in events:
        body = [b"\x09", _FIXED64(event.timestamp)] if event.timestamp else []
        if event.name:
            body.append(_field(b"\x12", event.name.encode("utf-8")))
        body += _attributes(b"\x1a", event.attributes)
        if event.dropped_attributes:
            body += [b"\x20", _varint(event.dropped_attributes)]
        out.append(_field(b"\x5a", b"".join(body)))
    return out


def _links(links: Sequence[Any]) -> list[bytes]:
    out = []
    for link in links:
        context = link.context
        body = [
            b"\x0a\x10",
            context.trace_id.to_bytes(16, "big"),
            b"\x12\x08",
            context.span_id.to_bytes(8, "big"),
            *_attributes(b"\x22", link.attributes),
        ]
        if link.dropped_attributes:
            body += [b"\x28", _varint(link.dropped_attributes)]
        body.append(_LINK_FLAGS_REMOTE if context.is_remote else _LINK_FLAGS_LOCAL)
        out.append(_field(b"\x6a", b"".join(body)))
    return out


def _status(status: Any) -> bytes:
    if status is None:
        return b""
    code = status.status_code.value
    if not code and not status.description:
        return _EMPTY_STATUS
    body = b""
    if status.description:
        body = _field(b"\x12", status.description.encode("utf-8"))
    if code:
        body += b"\x18" + _varint(code)
    return _field(b"\x7a", body)


def _parts(span: ReadableSpan) -> tuple[Any, Any, Any, int, int, int]:
    """Attributes, events, links and their dropped counts, read without copies.

    ``ReadableSpan``'s public properties copy (a mapping proxy over a locked mapping,
    tuples of the events and links); an ended SDK span's containers are immutable,
    so the exact SDK types are read directly. Anything else goes through the
    public properties.
    """
    if type(span) is ReadableSpan:
        attributes = span._attributes
        events = span._events
        links = span._links
        dropped = 0
        if type(attributes) is BoundedAttributes:
            dropped = attributes.dropped
            attributes = attributes._dict
        dropped_events = events.dropped if type(events) is BoundedList else 0
        dropped_links = links.dropped if type(links) is BoundedList else 0
        return attributes, events, links, dropped, dropped_events, dropped_links
    return (
        span.attributes,
        span.events,
        span.links,
        span.dropped_attributes,
        span.dropped_events,
        span.dropped_links,
    )


def encode_span(span: ReadableSpan) -> bytes:
    """One ``Span`` message (its body, without the enclosing field's tag and length)."""
    context = span.context
    parts = [
        b"\x0a\x10",
        context.trace_id.to_bytes(16, "big"),
        b"\x12\x08",
        context.span_id.to_bytes(8, "big"),
    ]
    trace_state = context.trace_state
    if trace_state:
        state = ",".join([f"{key}={value}" for key, value in trace_state.items()])
        parts.append(_field(b"\x1a", state.encode("utf-8")))
    parent = span.parent
    if parent:
        parts += [b"\x22\x08", parent.span_id.to_bytes(8, "big")]
    name = span.name
    if name:
        parts.append(_field(b"\x2a", name.encode("utf-8")))
    kind = span.kind
    parts.append(
        _SERVER if kind is SpanKind.SERVER else _CLIENT if kind is SpanKind.CLIENT else _KIND[kind]
    )
    start, end = span.start_time, span.end_time
    if start:
        parts += [b"\x39", _FIXED64(start)]
    if end:
        parts += [b"\x41", _FIXED64(end)]
    attributes, events, links, dropped, dropped_events, dropped_links = _parts(span)
    if attributes:
        parts += _attributes(_SPAN_ATTRIBUTE, attributes)
    if dropped:
        parts += [b"\x50", _varint(dropped)]
    if events:
        parts += _events(events)
    if dropped_events:
        parts += [b"\x60", _varint(dropped_events)]
    if links:
        parts += _links(links)
    if dropped_links:
        parts += [b"\x70", _varint(dropped_links)]
    parts.append(_status(span.status))
    parts.append(_FLAGS_REMOTE if parent and parent.is_remote else _FLAGS_LOCAL)
    return b"".join(parts)


def encode_spans(spans: Sequence[ReadableSpan]) -> bytes:
    """The serialized ``ExportTraceServiceRequest`` for ``spans``, grouped by resource and
    instrumentation scope in order of first appearance (as upstream groups them)."""
    groups: dict[Any, dict[Any, list[bytes]]] = {}
    last_resource: Any = None
    last_scope: Any = None
    by_scope: dict[Any, list[bytes]] = {}
    current: list[bytes] = []
    for span in spans:
        resource = span.resource
        scope = span.instrumentation_scope or None
        if resource is not last_resource:
            by_scope = groups.setdefault(resource, {})
            last_resource, last_scope = resource, None
        if scope is not last_scope or last_scope is None:
            current = by_scope.setdefault(scope, [])
            last_scope = scope
        current.append(_field(b"\x12", encode_span(span)))
    out = []
    for resource, scopes in groups.items():
        body = [_resource_header(resource)]
        for scope, encoded in scopes.items():
            scope_body = [_scope_header(scope), *encoded]
            if scope is not None and scope.schema_url:
                scope_body.append(_field(b"\x1a", scope.schema_url.encode("utf-8")))
            body.append(_field(b"\x12", b"".join(scope_body)))
        if resource.schema_url:
            body.append(_field(b"\x1a", resource.schema_url.encode("utf-8")))
        out.append(_field(b"\x0a", b"".join(body)))
    return b"".join(out)
