"""Secrets in query strings, headers and bound SQL parameters never reach labels,
log records or span attributes (beyond what the semantic conventions allow).

What FastAPI's native server span records by default (0.165): ``url.path`` and
``url.query`` (raw, with only ``X-Amz-*``, ``sig`` and ``X-Goog-Signature``
redacted), no request headers. The distro's ``RedactingSpanProcessor`` redacts the
values of every sensitive parameter (``token``, ``password``, ``api_key``...).
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import pytest
from _client import get
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

import azora_otel
from azora_otel._logs import JsonFormatter, TextFormatter
from azora_otel._redact import REDACTED, is_sensitive, redact_query, redact_url
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


@pytest.mark.parametrize(
    "name",
    [
        "token", "Token", "access_token", "refresh-token", "id_token", "password", "passwd",
        "pwd", "secret", "client_secret", "api_key", "apikey", "API-KEY", "key", "sig",
        "Signature", "X-Goog-Signature", "X-Amz-Signature", "X-Amz-Credential",
        "X-Amz-Security-Token", "AWSAccessKeyId", "session", "sessionid", "auth", "code",
    ],
)  # fmt: skip
def test_sensitive_names(name: str) -> None:
    assert is_sensitive(name)
    assert redact_query(f"a=1&{name}=s3cr3t&b=2") == f"a=1&{name}={REDACTED}&b=2"


@pytest.mark.parametrize("name", ["q", "page", "author", "sort", "x", "id", "limit"])
def test_harmless_names_are_kept(name: str) -> None:
    assert not is_sensitive(name)
    assert redact_query(f"{name}=v") == f"{name}=v"


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
