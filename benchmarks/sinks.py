"""Local sinks for the span benchmarks: one process that accepts what every tracer sends.

    python benchmarks/sinks.py            # prints one JSON line with its ports, then serves

It runs in its own process, so the CPU it spends receiving and decoding is never
charged to the service under test (which is measured with ``time.process_time``).

- OTLP/HTTP: ``POST /v1/traces`` and ``/v1/metrics`` (protobuf). Every trace request is
  decoded with ``opentelemetry-proto`` and its spans counted, so a benchmark can check
  that the spans it produced really arrived, and arrived as valid OTLP.
- OTLP/gRPC: ``TraceService/Export`` and ``MetricsService/Export`` on a second port,
  decoded and counted the same way.
- Sentry: ``POST /api/<project>/envelope/`` (the SDK's envelope endpoint); items
  counted by type (``transaction`` carries the spans).
- Datadog agent: ``PUT``/``POST /v0.4/traces`` (counted from the
  ``X-Datadog-Trace-Count`` header the tracer sends), ``GET /info``, telemetry.
- ``GET /stats``: the counts so far, as JSON. ``POST /reset`` zeroes them.
"""

from __future__ import annotations

import gzip
import http.server
import json
import sys
import threading
import zlib
from collections import Counter
from concurrent import futures
from typing import Any

from azora_otel.testing import free_port

_counts: Counter[str] = Counter()
_lock = threading.Lock()


def _count(key: str, n: int = 1) -> None:
    with _lock:
        _counts[key] += n


def _spans_in(body: bytes) -> int:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    return sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)


def _envelope_items(body: bytes) -> Counter[str]:
    """Item types of a Sentry envelope (header line, then item header + payload pairs)."""
    found: Counter[str] = Counter()
    lines = body.split(b"\n")
    i = 1
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        try:
            header = json.loads(lines[i])
        except ValueError:
            break
        found[str(header.get("type"))] += 1
        length = header.get("length")
        if length is None:
            i += 2
            continue
        # A payload with an explicit length may contain newlines: skip by bytes.
        consumed = len(b"\n".join(lines[: i + 1])) + 1 + int(length)
        lines = body[consumed:].split(b"\n")
        body = body[consumed:]
        i = 0
    return found


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as collectors and agents do

    def _body(self) -> bytes:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length)
        encoding = (self.headers.get("content-encoding") or "").lower()
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        return body

    def _reply(self, status: int, body: bytes = b"", ctype: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/stats":
            with _lock:
                data = dict(_counts)
            self._reply(200, json.dumps(data).encode())
        elif self.path == "/info":  # the Datadog agent's feature discovery
            self._reply(200, json.dumps({"endpoints": ["/v0.4/traces"]}).encode())
        else:
            self._reply(404)

    def do_PUT(self) -> None:
        self.do_POST()

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        body = self._body()
        if path == "/reset":
            with _lock:
                _counts.clear()
            self._reply(200)
        elif path == "/v1/traces":
            _count("otlp_http_requests")
            _count("otlp_http_spans", _spans_in(body))
            self._reply(200, b"", "application/x-protobuf")
        elif path == "/v1/metrics":
            _count("otlp_http_metric_requests")
            self._reply(200, b"", "application/x-protobuf")
        elif path.startswith("/api/") and path.endswith("/envelope/"):
            _count("sentry_envelopes")
            for kind, n in _envelope_items(body).items():
                _count(f"sentry_{kind}", n)
            self._reply(200, b'{"id":"0"}')
        elif path in ("/v0.4/traces", "/v0.5/traces"):
            _count("datadog_payloads")
            _count("datadog_traces", int(self.headers.get("x-datadog-trace-count") or 0))
            self._reply(200, b'{"rate_by_service":{}}')
        else:  # telemetry, stats, remote config...: accepted, not counted
            _count("other_requests")
            self._reply(200, b"{}")

    def log_message(self, *args: Any) -> None:
        pass


def _serve_grpc(port: int) -> Any:
    import grpc

    def traces(request: bytes, _context: Any) -> bytes:
        _count("otlp_grpc_requests")
        _count("otlp_grpc_spans", _spans_in(request))
        return b""  # an empty ExportTraceServiceResponse

    def metrics(_request: bytes, _context: Any) -> bytes:
        _count("otlp_grpc_metric_requests")
        return b""

    def identity(data: bytes) -> bytes:
        return data

    handlers = {
        "opentelemetry.proto.collector.trace.v1.TraceService": {
            "Export": grpc.unary_unary_rpc_method_handler(
                traces, request_deserializer=identity, response_serializer=identity
            )
        },
        "opentelemetry.proto.collector.metrics.v1.MetricsService": {
            "Export": grpc.unary_unary_rpc_method_handler(
                metrics, request_deserializer=identity, response_serializer=identity
            )
        },
    }
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    for service, methods in handlers.items():
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, methods),))
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    return server


def main() -> None:
    http_server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    http_server.daemon_threads = True
    grpc_port = free_port()
    grpc_server = _serve_grpc(grpc_port)
    threading.Thread(target=http_server.serve_forever, daemon=True).start()
    print(json.dumps({"http": http_server.server_address[1], "grpc": grpc_port}), flush=True)
    try:
        sys.stdin.read()  # serve until the parent closes our stdin (or dies)
    finally:
        http_server.shutdown()
        grpc_server.stop(0)


if __name__ == "__main__":
    main()
