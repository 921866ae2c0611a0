"""Serving the exposition over HTTP: one code path for the app's port and the separate port.

A scrape is checked against the access rules (:mod:`azora_otel._access`) first; a
refused one gets its 401/403/503 without rendering anything. An accepted one gets
the exposition in the format the ``Accept`` header negotiates (Prometheus text
0.0.4, or OpenMetrics with exemplars), gzip-compressed when the scraper accepts it
(Prometheus always does). Scrapes, refused or not, are never counted as traffic.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

from azora_otel._access import warn_if_exposed
from azora_otel._exposition import ExactNamePrometheusReader

Message = MutableMapping[str, Any]
Send = Callable[[Message], Awaitable[None]]

APP_PORT = "the app's port"
"""``where`` of scrapes that arrive on the application's own port."""

_log = logging.getLogger("azora_otel")
_GZIP_LEVEL = 6


@dataclass(frozen=True)
class ScrapeRequest:
    """What serving the exposition needs to know about one request."""

    method: str
    headers: Sequence[tuple[bytes, bytes]]
    """Header names in lower case, values as sent."""
    client_host: str | None
    server_host: str | None

    def header(self, name: bytes) -> list[bytes]:
        return [value for key, value in self.headers if key == name]

    @classmethod
    def from_scope(cls, scope: MutableMapping[str, Any]) -> ScrapeRequest:
        client = scope.get("client")
        server = scope.get("server")
        return cls(
            method=str(scope.get("method", "GET")),
            headers=[(bytes(k).lower(), bytes(v)) for k, v in scope.get("headers") or ()],
            client_host=str(client[0]) if client else None,
            server_host=str(server[0]) if server else None,
        )


@dataclass(frozen=True)
class Response:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


def refusal(
    reader: ExactNamePrometheusReader, request: ScrapeRequest, where: str
) -> Response | None:
    """The answer to a scrape the access rules refuse, else ``None``. Cheap: no rendering."""
    if where == APP_PORT:
        warn_if_exposed(reader.access, request.server_host, where)
    denial = reader.access.check(request.header(b"authorization"), request.client_host)
    if denial is None:
        return None
    headers = (("Content-Type", "text/plain; charset=utf-8"), *denial.headers)
    return Response(denial.status, headers, denial.body)


def _accepts_gzip(values: Sequence[bytes]) -> bool:
    for value in values:
        for item in value.decode("latin-1").split(","):
            coding, _, params = item.strip().partition(";")
            if coding.strip().lower() in {"gzip", "*"}:
                quality = params.strip().lower().replace(" ", "")
                return quality not in {"q=0", "q=0.0", "q=0.00", "q=0.000"}
    return False


def rendered(reader: ExactNamePrometheusReader, request: ScrapeRequest) -> Response:
    """The exposition, negotiated and compressed as the request asks. Never raises."""
    accept = b", ".join(request.header(b"accept")).decode("latin-1") or None
    try:
        body, content_type = reader.render(accept)
    except Exception:  # noqa: BLE001 - a scrape must not take the app's error path
        _log.exception("azora-otel: rendering the metrics exposition failed")
        return Response(500, (("Content-Type", "text/plain; charset=utf-8"),), b"error\n")
    headers = [("Content-Type", content_type), ("Vary", "Accept, Accept-Encoding")]
    if _accepts_gzip(request.header(b"accept-encoding")):
        body = gzip.compress(body, compresslevel=_GZIP_LEVEL)
        headers.append(("Content-Encoding", "gzip"))
    return Response(200, tuple(headers), body)


def respond(reader: ExactNamePrometheusReader, request: ScrapeRequest, where: str) -> Response:
    """Access check, then the exposition: the whole answer, for a caller on any thread."""
    return refusal(reader, request, where) or rendered(reader, request)


async def serve_exposition(
    reader: ExactNamePrometheusReader, scope: MutableMapping[str, Any], send: Send
) -> None:
    """Answer an ASGI ``GET``/``HEAD`` of the exposition path on the app's port."""
    request = ScrapeRequest.from_scope(scope)
    response = refusal(reader, request, APP_PORT)
    if response is None:
        # Collection walks every series: keep it off the event loop.
        loop = asyncio.get_running_loop()
        response = await loop.run_in_executor(None, rendered, reader, request)
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
    headers.append((b"content-length", str(len(response.body)).encode("latin-1")))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    body = b"" if request.method == "HEAD" else response.body
    await send({"type": "http.response.body", "body": body})
