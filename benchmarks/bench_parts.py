"""Partial span pipelines for the profile stages: the same spans, stopped at one step."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult


class NoExport(SpanExporter):
    """Receives batches and drops them: what the queue costs without any encoding."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


class EncodeOnly(SpanExporter):
    """Builds the OTLP request bytes of every batch with ``encode`` and sends nothing."""

    def __init__(self, encode: Any) -> None:
        self.encode = encode
        self.bytes = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.bytes += len(self.encode(spans))
        return SpanExportResult.SUCCESS


def upstream_encode(spans: Sequence[ReadableSpan]) -> bytes:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    return bytes(encode_spans(spans).SerializePartialToString())


def partial_pipeline(telemetry: Any, stage: str, upstream: bool) -> None:
    """Replace the export processor of ``telemetry``'s tracer provider for ``stage``."""
    from azora_otel._redact import RedactingSpanProcessor

    provider = telemetry.tracer_provider
    multi = provider._active_span_processor
    kept = [p for p in multi._span_processors if isinstance(p, RedactingSpanProcessor)]
    for processor in multi._span_processors:
        if processor not in kept:
            processor.shutdown()
    if stage == "queue":
        kept.append(BatchSpanProcessor(NoExport()))
    elif stage == "encode":
        if upstream:
            kept.append(BatchSpanProcessor(EncodeOnly(upstream_encode)))
        else:
            from azora_otel._otlp_encode import encode_spans

            kept.append(BatchSpanProcessor(EncodeOnly(encode_spans)))
    multi._span_processors = tuple(kept)
