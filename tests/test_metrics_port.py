"""The exposition on its own port (``AZORA_METRICS_PORT``): the same answers as the
app's port (render path, lock, access rules, negotiation), HEAD, 404, 405, gzip."""

from __future__ import annotations

import gzip
import http.client
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import ThreadingHTTPServer

import pytest
from _promtool import unexpected_complaints
from prometheus_client.parser import text_string_to_metric_families

from azora_otel import _access
from azora_otel._metrics_server import start_metrics_server
from azora_otel.testing import Capture, capture

TOKEN = "port-token-0123456789abcdef"


@contextmanager
def metrics_port(
    environ: dict[str, str] | None = None, host: str = "127.0.0.1"
) -> Iterator[tuple[Capture, ThreadingHTTPServer]]:
    _access._warned.clear()
    with capture(environ) as cap:
        assert cap.telemetry.prometheus is not None
        server = start_metrics_server(cap.telemetry.prometheus, host, 0)
        assert server is not None
        try:
            yield cap, server
        finally:
            server.shutdown()
            server.server_close()
            _access._warned.clear()


def request(
    server: ThreadingHTTPServer, method: str, path: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=30)
    try:
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def test_get_serves_the_exposition() -> None:
    with metrics_port() as (cap, server):
        cap.telemetry.requests.record("GET", "/x", 200, 12.0)
        status, headers, body = request(server, "GET", "/metrics")
    assert status == 200
    assert headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert int(headers["content-length"]) == len(body)
    families = {f.name for f in text_string_to_metric_families(body.decode())}
    assert {"http_requests", "http_request_duration_ms", "http_error_rate"} <= families
    assert unexpected_complaints(body) == []


def test_head_has_the_headers_and_no_body() -> None:
    with metrics_port() as (_, server):
        _, get_headers, get_body = request(server, "GET", "/metrics")
        status, headers, body = request(server, "HEAD", "/metrics")
    assert status == 200
    assert body == b""
    assert headers["content-type"] == get_headers["content-type"]
    assert int(headers["content-length"]) == len(get_body)


@pytest.mark.parametrize("path", ["/", "/metricsx", "/metrics/", "/other"])
def test_other_paths_are_404(path: str) -> None:
    with metrics_port() as (_, server):
        status, _, body = request(server, "GET", path)
    assert status == 404
    assert b"http_requests" not in body


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "BREW"])
def test_other_methods_are_405(method: str) -> None:
    with metrics_port() as (_, server):
        status, headers, _ = request(server, method, "/metrics")
    assert status == 405
    assert headers["allow"] == "GET, HEAD"


def test_query_string_is_ignored() -> None:
    with metrics_port() as (_, server):
        assert request(server, "GET", "/metrics?debug=1")[0] == 200


def test_openmetrics_and_gzip_are_negotiated() -> None:
    with metrics_port() as (_, server):
        status, headers, body = request(
            server,
            "GET",
            "/metrics",
            {"Accept": "application/openmetrics-text;version=1.0.0", "Accept-Encoding": "gzip"},
        )
    assert status == 200
    assert headers["content-type"].startswith("application/openmetrics-text; version=1.0.0")
    assert headers["content-encoding"] == "gzip"
    assert gzip.decompress(body).decode().endswith("# EOF\n")


def test_token_on_the_separate_port() -> None:
    with metrics_port({"AZORA_METRICS_TOKEN": TOKEN}) as (_, server):
        missing = request(server, "GET", "/metrics")
        wrong = request(server, "GET", "/metrics", {"Authorization": "Bearer nope"})
        right = request(server, "GET", "/metrics", {"Authorization": f"Bearer {TOKEN}"})
    assert missing[0] == wrong[0] == 401
    assert missing[1]["www-authenticate"] == 'Bearer realm="metrics"'
    assert b"http_error_rate" not in missing[2] + wrong[2]
    assert right[0] == 200
    assert b"http_error_rate" in right[2]


@pytest.mark.parametrize(("networks", "status"), [("127.0.0.0/8", 200), ("10.0.0.0/8", 403)])
def test_allowed_networks_on_the_separate_port(networks: str, status: int) -> None:
    with metrics_port({"AZORA_METRICS_ALLOWED_NETWORKS": networks}) as (_, server):
        assert request(server, "GET", "/metrics")[0] == status


def test_locked_separate_port_answers_503() -> None:
    with metrics_port({"AZORA_METRICS_TOKEN": ""}) as (_, server):
        assert request(server, "GET", "/metrics")[0] == 503


def test_scrapes_and_flushes_at_once_stay_valid() -> None:
    with metrics_port() as (cap, server):
        cap.telemetry.requests.record("GET", "/x", 200, 12.0)
        bodies: list[bytes] = []
        stop = threading.Event()

        def flush() -> None:
            while not stop.is_set():
                cap.telemetry.flush()

        flusher = threading.Thread(target=flush)
        flusher.start()
        scrapers = [
            threading.Thread(
                target=lambda: bodies.extend(
                    request(server, "GET", "/metrics")[2] for _ in range(15)
                )
            )
            for _ in range(3)
        ]
        for thread in scrapers:
            thread.start()
        for thread in scrapers:
            thread.join(120)
        stop.set()
        flusher.join(60)
    assert len(bodies) == 45
    for body in bodies:
        helps = [line for line in body.decode().splitlines() if line.startswith("# HELP")]
        assert len(helps) == len(set(helps)), body.decode()


def unprotected(records: list[logging.LogRecord]) -> list[logging.LogRecord]:
    return [r for r in records if getattr(r, "azora", {}).get("event") == "exposition_unprotected"]


def test_unprotected_port_on_all_interfaces_is_reported_at_start(azora_records) -> None:
    with metrics_port(host="0.0.0.0"):
        pass
    (record,) = unprotected(azora_records)
    assert "0.0.0.0" in record.azora["detail"]  # type: ignore[attr-defined]
    assert "AZORA_METRICS_HOST" in record.azora["detail"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("environ", "host"),
    [({}, "127.0.0.1"), ({"AZORA_METRICS_TOKEN": TOKEN}, "0.0.0.0")],
)
def test_loopback_or_protected_port_is_not_reported(
    azora_records, environ: dict[str, str], host: str
) -> None:
    with metrics_port(environ, host=host):
        pass
    assert unprotected(azora_records) == []


def test_a_port_in_use_is_logged_not_raised(azora_records) -> None:
    with metrics_port() as (cap, server):
        assert cap.telemetry.prometheus is not None
        port = server.server_address[1]
        assert start_metrics_server(cap.telemetry.prometheus, "127.0.0.1", port) is None
    assert any("cannot serve metrics" in r.getMessage() for r in azora_records)
