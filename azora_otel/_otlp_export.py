"""The upstream OTLP span exporters, with the request bytes built by :mod:`._otlp_encode`.

Only the encoding step changes. Endpoint, headers, TLS, compression, timeouts,
retries, the gRPC channel's reconnection and the exporters' own metrics are the
upstream code's, configured by the same ``OTEL_EXPORTER_OTLP_*`` variables:

- :class:`HTTPSpanExporter` is ``opentelemetry.exporter.otlp.proto.http``'s exporter
  whose ``export`` posts :func:`~._otlp_encode.encode_spans` bytes;
- :class:`GRPCSpanExporter` is ``opentelemetry.exporter.otlp.proto.grpc``'s exporter
  whose stub sends those bytes as the request message, unchanged.

``AZORA_SPAN_ENCODER=upstream`` keeps the upstream classes as they are.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as UpstreamGRPCSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http._common import (
    RequestPayloadTooLargeError,
    _is_request_too_large,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as UpstreamHTTPSpanExporter,
)
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult

from azora_otel._otlp_encode import encode_spans

_log = logging.getLogger("opentelemetry.exporter.otlp.proto.http.trace_exporter")

_EXPORT_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


class HTTPSpanExporter(UpstreamHTTPSpanExporter):
    """OTLP/HTTP (protobuf) span exporter encoding with :func:`encode_spans`."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        # The upstream export() with its one encoding line replaced.
        if self._shutdown:
            _log.warning("Exporter already shutdown, ignoring batch")
            return SpanExportResult.FAILURE
        with self._metrics.export_operation(len(spans)) as result:
            try:
                data = encode_spans(spans)
            except Exception as error:  # noqa: BLE001 - reported like the upstream exporter does
                _log.error("Failed to encode span batch: %s", error)
                result.error = error
                return SpanExportResult.FAILURE
            if _is_request_too_large(data, self._max_request_size):
                _log.warning(
                    "Dropping span batch: serialized size %d bytes exceeds max_request_size "
                    "%d bytes.",
                    len(data),
                    self._max_request_size,
                )
                result.error = RequestPayloadTooLargeError(
                    f"Serialized span request size {len(data)} bytes exceeds "
                    f"max_request_size {self._max_request_size} bytes."
                )
                return SpanExportResult.FAILURE
            outcome = self._client.export(data)
            if not outcome.success:
                result.error = outcome.error
                if outcome.status_code is not None:
                    result.error_attrs = {"http.response.status_code": outcome.status_code}
                return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS


class _BytesTraceStub:
    """``TraceServiceStub`` whose ``Export`` takes the serialized request as it is."""

    def __init__(self, channel: Any) -> None:
        self.Export = channel.unary_unary(_EXPORT_METHOD)  # bytes in, bytes out


class GRPCSpanExporter(UpstreamGRPCSpanExporter):
    """OTLP/gRPC span exporter encoding with :func:`encode_spans`."""

    def _initialize_channel_and_stub(self) -> None:
        # Called at construction and again by the upstream reconnection on UNAVAILABLE.
        super()._initialize_channel_and_stub()  # type: ignore[no-untyped-call]
        self._client = _BytesTraceStub(self._channel)  # type: ignore[assignment]

    def _translate_data(self, data: Sequence[ReadableSpan]) -> bytes:  # type: ignore[override]
        return encode_spans(data)


def fast_exporter(cls: type) -> type:
    """The class to use for an exporter class the upstream configurator resolved."""
    if cls is UpstreamHTTPSpanExporter:
        return HTTPSpanExporter
    if cls is UpstreamGRPCSpanExporter:
        return GRPCSpanExporter
    return cls
