"""The exposition on a port of its own (``AZORA_METRICS_PORT``), bound to 127.0.0.1 by default.

A small threaded HTTP server (daemon threads) that answers exactly like the
exposition path on the app's port, through the same code
(:func:`azora_otel._exposition_http.respond`): the same render lock, the same
access rules, the same content negotiation. ``GET``/``HEAD /metrics`` only; any
other path is 404, any other method 405. Slow or idle clients are dropped after
``_TIMEOUT_S``.
"""

from __future__ import annotations

import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from azora_otel._access import warn_if_exposed
from azora_otel._exposition import ExactNamePrometheusReader
from azora_otel._exposition_http import Response, ScrapeRequest, respond

PATH = "/metrics"
_TIMEOUT_S = 30.0
_log = logging.getLogger("azora_otel")


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = _TIMEOUT_S
    protocol_version = "HTTP/1.1"
    server_version = "azora-otel"
    sys_version = ""

    def do_GET(self) -> None:
        self._answer()

    def do_HEAD(self) -> None:
        self._answer()

    def __getattr__(self, name: str) -> Any:
        # Every other method: http.server looks up ``do_<METHOD>``.
        if name.startswith("do_"):
            return self._answer
        raise AttributeError(name)

    def _answer(self) -> None:
        # A request body is never read: close the connection instead of parsing past it.
        if self.headers.get("Content-Length") not in (None, "0") or self.headers.get(
            "Transfer-Encoding"
        ):
            self.close_connection = True
        request = ScrapeRequest(
            method=self.command,
            headers=[
                (k.lower().encode("latin-1"), v.encode("latin-1", "replace"))
                for k, v in self.headers.items()
            ],
            client_host=str(self.client_address[0]),
            server_host=str(self.server.server_address[0]),
        )
        if urlsplit(self.path).path != PATH:
            response = _plain(404, b"not found: the exposition is at /metrics\n")
        elif self.command not in ("GET", "HEAD"):
            response = _plain(405, b"method not allowed\n", (("Allow", "GET, HEAD"),))
        else:
            response = respond(self.server.reader, request, self.server.where)
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes are not logged (http.server would print each one on stderr)."""


def _plain(status: int, body: bytes, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    return Response(status, (("Content-Type", "text/plain; charset=utf-8"), *headers), body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    reader: ExactNamePrometheusReader
    where: str


class _Server6(_Server):
    address_family = socket.AF_INET6


def start_metrics_server(
    reader: ExactNamePrometheusReader, host: str, port: int
) -> ThreadingHTTPServer | None:
    """Serve ``/metrics`` on ``host:port`` from a daemon thread; logs instead of raising."""
    server_class = _Server6 if ":" in host else _Server
    try:
        server = server_class((host, port), _Handler)
    except OSError as exc:
        _log.error(
            "azora-otel: cannot serve metrics on %s:%d (%s); the service keeps running "
            "without that port (several workers cannot share it: use the collector)",
            host,
            port,
            exc,
        )
        return None
    server.reader = reader
    server.where = f"port {port}"
    warn_if_exposed(reader.access, str(server.server_address[0]), server.where)
    thread = threading.Thread(target=server.serve_forever, name="azora-otel-metrics", daemon=True)
    thread.start()
    return server
