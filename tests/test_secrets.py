"""Secrets in query strings, headers and bound SQL parameters never reach labels,
log records or span attributes (beyond what the semantic conventions allow).

What FastAPI's native server span records by default (0.165): ``url.path`` and
``url.query`` (raw, with only ``X-Amz-*``, ``sig`` and ``X-Goog-Signature``
redacted), no request headers. The distro's ``RedactingSpanProcessor`` redacts the
values of every sensitive parameter (``token``, ``password``, ``api_key``...).
"""

from __future__ import annotations

import csv
import json
import logging
import sys
from pathlib import Path

import pytest
from _client import get
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.trace import SpanKind
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

import azora_otel
from azora_otel import _fastapi
from azora_otel._logs import JsonFormatter, TextFormatter
from azora_otel._redact import REDACTED, is_sensitive, redact_query, redact_url
from azora_otel._secret_names import words
from azora_otel._sqlalchemy import uninstrument_engine
from azora_otel.testing import capture

sys.path.insert(0, str(Path(__file__).parent / "apps"))
import hostile_app
import hostile_harness as harness

QUERY_SECRETS = {
    "token": "qs-token-1f2e",
    "password": "qs-password-9a8b",
    "api_key": "qs-apikey-7c6d",
    "access_token": "qs-access-5e4f",
    "client_secret": "qs-client-3a2b",
    "X-Goog-Signature": "qs-goog-1c0d",
    "AWSAccessKeyId": "qs-aws-9e8f",
    "Signature": "qs-signature-7a6b",
    "sig": "qs-sig-5c4d",
    "X-Amz-Security-Token": "qs-amz-3e2f",
}
BEARER = "hdr-bearer-0a1b2c"
COOKIE = "hdr-session-3d4e5f"
SQL_SECRET = "sql-param-6a7b8c"
SLOW_SQL_SECRET = "sql-slow-9d0e1f"
DUP_SQL_SECRET = "sql-dup-2a3b4c"
ALL_SECRETS = [*QUERY_SECRETS.values(), BEARER, COOKIE, SQL_SECRET, SLOW_SQL_SECRET, DUP_SQL_SECRET]
LOGIN_TARGET = "/login?" + "&".join(f"{k}={v}" for k, v in QUERY_SECRETS.items()) + "&x=visible"
HEADERS = {"Authorization": f"Bearer {BEARER}", "Cookie": f"session={COOKIE}"}
# Everything low enough that every request and query is "slow" and logged.
SLOW_ENV = {"PERF_API_LATENCY_MS": "0.001", "PERF_DB_QUERY_MS": "0.001"}


def leaked(text: str) -> list[str]:
    return [secret for secret in ALL_SECRETS if secret in text]


def span_text(span: object) -> str:
    return json.dumps(
        {
            "name": span.name,  # type: ignore[attr-defined]
            "attributes": dict(span.attributes or {}),  # type: ignore[attr-defined]
            "events": [
                [e.name, dict(e.attributes or {})]
                for e in span.events  # type: ignore[attr-defined]
            ],
            "status": str(span.status.description),  # type: ignore[attr-defined]
        },
        default=str,
    )


def record_text(record: logging.LogRecord) -> str:
    return "\n".join(
        [
            TextFormatter().format(record),
            JsonFormatter().format(record),
            record.getMessage(),
            repr(getattr(record, "azora", None)),
        ]
    )


def test_in_memory_no_secret_in_exposition_logs_or_spans(
    azora_records: list[logging.LogRecord],
) -> None:
    with capture(SLOW_ENV) as cap:
        app = hostile_app.create_app()
        azora_otel.instrument_app(app, cap.telemetry)
        engine = hostile_app.engine()
        azora_otel.instrument_engine(engine, cap.telemetry)
        try:
            assert get(app, LOGIN_TARGET, headers=HEADERS).status_code == 200
            assert (
                get(app, f"/db/users/3?password={SQL_SECRET}", headers=HEADERS).status_code == 200
            )
            assert get(app, f"/db/slow?secret={SLOW_SQL_SECRET}&ms=2").status_code == 200
            with pytest.raises(IntegrityError), engine.begin() as conn:
                conn.execute(
                    text("insert into users (id, name, password) values (:id, :name, :pw)"),
                    {"id": 1, "name": "dup", "pw": DUP_SQL_SECRET},
                )
        finally:
            uninstrument_engine(engine)
        exposition = cap.exposition()
        spans = cap.spans()

    assert leaked(exposition) == []
    assert 'route="/login"' in exposition
    texts = [span_text(s) for s in spans]
    assert [t for t in texts if leaked(t)] == []
    server = next(s for s in spans if s.name == "GET /login")
    query = str(server.attributes["url.query"])
    # Names stay, values go; harmless parameters are kept as they are.
    assert all(f"{name}={REDACTED}" in query for name in QUERY_SECRETS)
    assert "x=visible" in query
    assert not any(k.startswith("http.request.header") for s in spans for k in s.attributes)
    db_spans = [s for s in spans if s.attributes.get("db.system") == "sqlite"]
    assert len(db_spans) >= 3
    statements = [str(s.attributes["db.statement"]) for s in db_spans]
    assert any("password = ?" in st for st in statements)  # placeholders, no values
    failed = [s for s in db_spans if not s.status.is_ok]
    assert failed
    assert failed[0].status.description == "IntegrityError"

    events = {getattr(r, "azora", {}).get("event") for r in azora_records}
    assert {"slow_request", "slow_query"} <= events
    assert [record_text(r) for r in azora_records if leaked(record_text(r))] == []
    slow_queries = [r.azora for r in azora_records if r.azora.get("event") == "slow_query"]  # type: ignore[attr-defined]
    assert any("password = ?" in q.get("statement", "") for q in slow_queries)


def _table() -> list[tuple[str, bool, str]]:
    """``tests/data/query_parameter_names.csv``: real parameter names, whether they
    are secrets, and where they come from."""
    rows: dict[str, tuple[str, bool, str]] = {}
    path = Path(__file__).parent / "data" / "query_parameter_names.csv"
    lines = [line for line in path.read_text().splitlines() if not line.startswith("#")]
    for row in csv.DictReader(lines):
        sensitive = {"yes": True, "no": False}[row["sensitive"]]
        previous = rows.get(row["name"])
        assert previous is None or previous[1] == sensitive, f"contradictory rows: {row}"
        rows[row["name"]] = (row["name"], sensitive, row["source"])
    return list(rows.values())


TABLE = _table()


def test_the_table_has_both_sides() -> None:
    assert sum(1 for _, s, _ in TABLE if s) >= 60
    assert sum(1 for _, s, _ in TABLE if not s) >= 60


@pytest.mark.parametrize(("name", "sensitive", "source"), TABLE, ids=[r[0] for r in TABLE])
def test_real_parameter_names(name: str, sensitive: bool, source: str) -> None:
    assert is_sensitive(name) is sensitive, source
    query = f"a=1&{name}=s3cr3t&b=2"
    expected = f"a=1&{name}={REDACTED}&b=2" if sensitive else query
    assert redact_query(query) == expected


@pytest.mark.parametrize(
    "name",
    [
        "token", "Token", "TOKEN", "access-token", "refresh-token", "idToken", "authToken",
        "API-KEY", "x-api-key", "X-API-KEY", "apiKey", "ApiKey", "access%5Fkey", "secret+key",
        "client.secret", "Password", "userPassword", "SESSION", "sessionId",
    ],
)  # fmt: skip
def test_spellings(name: str) -> None:
    assert is_sensitive(name)


def test_words() -> None:
    assert words("X-Amz-Security-Token") == ["x", "amz", "security", "token"]
    assert words("SAMLResponse") == ["saml", "response"]
    assert words("AWSAccessKeyId") == ["aws", "access", "key", "id"]
    assert words("nextPageToken") == ["next", "page", "token"]
    assert words("client_secret") == ["client", "secret"]
    assert words("PHPSESSID") == ["phpsessid"]


def test_redact_url_keeps_path_and_fragment() -> None:
    assert redact_url("https://h/p?token=1&q=2#frag") == f"https://h/p?token={REDACTED}&q=2#frag"
    assert redact_url("/p?password=x") == f"/p?password={REDACTED}"
    assert redact_url("/p") == "/p"


_names = st.sampled_from([*sorted(QUERY_SECRETS), "password", "refresh_token", "my_secret"])
_values = st.text(
    alphabet=st.characters(codec="ascii", exclude_characters="&=#"), min_size=4, max_size=30
)
_harmless = st.lists(
    st.tuples(st.sampled_from(["q", "page", "x"]), st.text(alphabet="abc123", max_size=5)),
    max_size=4,
)


@given(secrets=st.lists(st.tuples(_names, _values), min_size=1, max_size=5), other=_harmless)
def test_property_no_sensitive_value_survives(
    secrets: list[tuple[str, str]], other: list[tuple[str, str]]
) -> None:
    pairs = secrets + other
    query = "&".join(f"{k}={v}" for k, v in pairs)
    redacted = redact_query(query)
    parts = redacted.split("&")
    assert len(parts) == len(pairs)
    for (name, value), part in zip(pairs, parts, strict=True):
        if is_sensitive(name):
            assert part == f"{name}={REDACTED}"
        else:
            assert part == f"{name}={value}"


@given(st.text(max_size=200))
def test_property_redaction_never_raises(query: str) -> None:
    assert isinstance(redact_query(query), str)
    assert isinstance(redact_url("/p?" + query), str)


@pytest.mark.e2e
def test_real_service_logs_spans_and_exposition_hold_no_secret(tmp_path: Path) -> None:
    port = harness.stack.free_port()
    service = harness.start_service(
        tmp_path,
        harness.uvicorn_command(port),
        port,
        {**SLOW_ENV, "OTEL_TRACES_EXPORTER": "console", "AZORA_LOG_FORMAT": "json"},
        name="secrets",
    )
    auth = [(k.lower().encode(), v.encode()) for k, v in HEADERS.items()]
    try:
        assert harness.get(port, LOGIN_TARGET, auth) == 200
        assert harness.get(port, f"/db/users/3?password={SQL_SECRET}", auth) == 200
        assert harness.get(port, f"/db/slow?secret={SLOW_SQL_SECRET}&ms=2", auth) == 200
        exposition = service.scrape()
    finally:
        service.stop()  # SIGTERM: the lifespan shutdown flushes the console span exporter
    log = service.log()
    assert leaked(exposition) == []
    assert leaked(log) == []
    # The records and spans are there, just without the values.
    assert f"token={REDACTED}" in log
    assert '"event":"slow_query"' in log
    assert '"event":"slow_request"' in log
    assert '"db.statement": "select sleep_ms(?), count(*) from users where password = ?"' in log


HEADER_SECRETS = {
    "Authorization": "Bearer hdr-auth-1a2b",
    "Cookie": "sessionid=hdr-cookie-3c4d",
    "X-Api-Key": "hdr-apikey-5e6f",
    "Proxy-Authorization": "Basic hdr-proxy-7a8b",
}


@pytest.mark.parametrize("spans_from", ["fastapi-native", "contrib-asgi"])
def test_server_spans_of_both_paths_hold_no_header_or_query_secret(spans_from: str) -> None:
    """FastAPI's native span (FastAPI >= 0.142) and the contrib middleware (older
    FastAPI, which sets its URL attributes again after the span started) record no
    credential header and no sensitive query value; which header-derived attributes
    each has."""
    with capture() as cap:
        app = hostile_app.create_app()
        if spans_from == "fastapi-native":
            azora_otel.instrument_app(app, cap.telemetry)
        else:
            _fastapi._add_contrib_spans(app, cap.telemetry)
        headers = {**HEADER_SECRETS, "User-Agent": "probe/1.0"}
        assert get(app, LOGIN_TARGET, headers=headers).status_code == 200
        spans = cap.spans()
    server = [s for s in spans if s.kind is SpanKind.SERVER]
    assert len(server) == 1
    for span in spans:
        text = span_text(span)
        assert not any(value.split()[-1] in text for value in HEADER_SECRETS.values()), text
        assert leaked(text) == [], text
        assert not any(k.startswith("http.request.header.") for k in span.attributes or {})
    attributes = dict(server[0].attributes or {})
    from_headers = {k for k, v in attributes.items() if v in ("probe/1.0", "test")}
    if spans_from == "fastapi-native":
        assert from_headers == {"server.address"}  # the Host header
    else:
        assert "probe/1.0" in attributes.values()  # User-Agent, per the HTTP conventions
