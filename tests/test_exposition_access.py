"""Who may read the exposition: bearer token (variable or file), allowed networks, fail
closed on unusable settings; refused scrapes count nothing; the token never leaks.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from _client import run_requests
from fastapi import FastAPI

import azora_otel
from azora_otel import _access
from azora_otel._access import MetricsAccess
from azora_otel._settings import Settings
from azora_otel.testing import Capture, capture

TOKEN = "s3cr3t-7f1c9a0b2d4e6f8091a2b3c4d5e6f708"


@pytest.fixture(autouse=True)
def _fresh_warnings() -> Iterator[None]:
    _access._warned.clear()
    yield
    _access._warned.clear()


def scrape(
    app: FastAPI,
    headers: dict[str, str] | None = None,
    *,
    client: tuple[str, int] = ("127.0.0.1", 50000),
    base_url: str = "http://127.0.0.1:8000",
) -> httpx.Response:
    async def main() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=client)
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as http:
            return await http.get("/metrics", headers=headers)

    return asyncio.run(main())


def make_app(cap: Capture) -> FastAPI:
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    return azora_otel.instrument_app(app, cap.telemetry)


# -- parsing the settings ---------------------------------------------------------


def _parse_access(environ: dict[str, str]) -> tuple[MetricsAccess, list[str]]:
    settings = Settings.from_env(environ)
    return settings.metrics_access, list(settings.problems)


def test_token_from_the_variable() -> None:
    access, problems = _parse_access({"AZORA_METRICS_TOKEN": f" {TOKEN}\n"})
    assert problems == []
    assert access.token == TOKEN.encode()
    assert access.protection == "token"


def test_token_from_a_file_read_once(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    settings = Settings.from_env({"AZORA_METRICS_TOKEN_FILE": str(path)})
    path.write_text("changed")
    assert settings.problems == ()
    assert settings.metrics_access.token == TOKEN.encode()


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"AZORA_METRICS_TOKEN": ""}, "AZORA_METRICS_TOKEN"),
        ({"AZORA_METRICS_TOKEN": "   "}, "AZORA_METRICS_TOKEN"),
        ({"AZORA_METRICS_TOKEN": "two words"}, "AZORA_METRICS_TOKEN"),
        ({"AZORA_METRICS_TOKEN": "tökén"}, "AZORA_METRICS_TOKEN"),
        ({"AZORA_METRICS_TOKEN_FILE": ""}, "AZORA_METRICS_TOKEN_FILE"),
        ({"AZORA_METRICS_TOKEN_FILE": "/nonexistent/token"}, "AZORA_METRICS_TOKEN_FILE"),
        ({"AZORA_METRICS_TOKEN_FILE": "/"}, "AZORA_METRICS_TOKEN_FILE"),  # a directory
        ({"AZORA_METRICS_TOKEN": "a", "AZORA_METRICS_TOKEN_FILE": "/x"}, "both are set"),
        ({"AZORA_METRICS_ALLOWED_NETWORKS": "10.0.0.0/8,nonsense"}, "'nonsense'"),
        ({"AZORA_METRICS_ALLOWED_NETWORKS": "10.0.0.0/33"}, "AZORA_METRICS_ALLOWED_NETWORKS"),
        ({"AZORA_METRICS_ALLOWED_NETWORKS": ""}, "AZORA_METRICS_ALLOWED_NETWORKS"),
        ({"AZORA_METRICS_ALLOWED_NETWORKS": " , "}, "AZORA_METRICS_ALLOWED_NETWORKS"),
    ],
)
def test_unusable_protection_locks_the_exposition(environ: dict[str, str], named: str) -> None:
    settings = Settings.from_env(environ)
    (problem,) = settings.problems
    assert named in problem
    assert "503" in problem
    assert settings.metrics_access.locked
    assert settings.metrics_access.protection == "locked"


@pytest.mark.parametrize("content", [b"", b"\n  \n", b"x" * 5000])
def test_unusable_token_file_locks_the_exposition(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "token"
    path.write_bytes(content)
    settings = Settings.from_env({"AZORA_METRICS_TOKEN_FILE": str(path)})
    (problem,) = settings.problems
    assert f"AZORA_METRICS_TOKEN_FILE={str(path)!r}" in problem
    assert settings.metrics_access.locked


def test_networks_parse_addresses_and_cidrs() -> None:
    access, problems = _parse_access(
        {"AZORA_METRICS_ALLOWED_NETWORKS": "10.0.0.0/8, 192.168.1.7 ,fd00::/8,"}
    )
    assert problems == []
    assert [str(n) for n in access.networks] == ["10.0.0.0/8", "192.168.1.7/32", "fd00::/8"]
    assert access.protection == "networks"


def test_the_token_never_appears_in_messages_repr_or_check_config(tmp_path: Path) -> None:
    bad = "has space " + TOKEN
    (problem,) = Settings.from_env({"AZORA_METRICS_TOKEN": bad}).problems
    assert TOKEN not in problem
    settings = Settings.from_env({"AZORA_METRICS_TOKEN": TOKEN})
    assert TOKEN not in repr(settings)
    assert "protection='token'" in repr(settings.metrics_access)
    env = {**os.environ, "AZORA_METRICS_TOKEN": TOKEN}
    result = subprocess.run(
        [sys.executable, "-m", "azora_otel._ops.cli", "check-config"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "metrics_access" in result.stdout
    assert TOKEN not in result.stdout + result.stderr


def test_check_config_exits_1_on_an_unreadable_token_file() -> None:
    env = {**os.environ, "AZORA_METRICS_TOKEN_FILE": "/nonexistent/token"}
    result = subprocess.run(
        [sys.executable, "-m", "azora_otel._ops.cli", "check-config"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "AZORA_METRICS_TOKEN_FILE='/nonexistent/token'" in result.stderr


# -- the check itself -------------------------------------------------------------

PROTECTED = MetricsAccess(token=TOKEN.encode())


@pytest.mark.parametrize(
    ("headers", "status", "challenge"),
    [
        ([], 401, 'Bearer realm="metrics"'),
        ([b"Bearer wrong"], 401, 'Bearer realm="metrics", error="invalid_token"'),
        ([b"Bearer "], 401, 'Bearer realm="metrics", error="invalid_token"'),
        ([b""], 401, 'Bearer realm="metrics", error="invalid_token"'),
        ([f"Basic {TOKEN}".encode()], 401, 'Bearer realm="metrics", error="invalid_token"'),
        ([f"Bearer {TOKEN}x".encode()], 401, 'Bearer realm="metrics", error="invalid_token"'),
        ([f"Bearer {TOKEN[:-1]}".encode()], 401, 'Bearer realm="metrics", error="invalid_token"'),
        (
            [f"Bearer {TOKEN}".encode(), b"Bearer wrong"],
            401,
            'Bearer realm="metrics", error="invalid_token"',
        ),
        ([f"Bearer {TOKEN}".encode()], None, None),
        ([f"bearer {TOKEN}".encode()], None, None),
        ([f"Bearer  {TOKEN} ".encode()], None, None),
    ],
)
def test_bearer_token_check(
    headers: list[bytes], status: int | None, challenge: str | None
) -> None:
    denial = PROTECTED.check(headers, "127.0.0.1")
    if status is None:
        assert denial is None
    else:
        assert denial is not None
        assert denial.status == status
        assert dict(denial.headers)["WWW-Authenticate"] == challenge


@pytest.mark.parametrize(
    ("client", "allowed"),
    [
        ("10.1.2.3", True),
        ("::ffff:10.1.2.3", True),
        ("fd00::1", True),
        ("192.168.0.1", False),
        ("127.0.0.1", False),
        ("testclient", False),
        (None, False),
    ],
)
def test_allowed_networks_check(client: str | None, allowed: bool) -> None:
    access, _ = _parse_access({"AZORA_METRICS_ALLOWED_NETWORKS": "10.0.0.0/8,fd00::/8"})
    denial = access.check([], client)
    assert (denial is None) is allowed
    if not allowed:
        assert denial is not None
        assert denial.status == 403


# -- on the app's port ------------------------------------------------------------


def test_refused_scrapes_get_401_and_record_nothing(azora_records) -> None:
    with capture({"AZORA_METRICS_TOKEN": TOKEN}) as cap:
        app = make_app(cap)
        for headers in (None, {"Authorization": "Bearer wrong"}, {"Authorization": ""}):
            response = scrape(app, headers)
            assert response.status_code == 401
            assert response.headers["www-authenticate"].startswith('Bearer realm="metrics"')
            assert "http_requests_total" not in response.text
        assert cap.points("http_requests_total") == []
        assert cap.points("http_request_duration_ms") == []
        assert cap.spans() == ()
        ok = scrape(app, {"Authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200
        assert "# TYPE http_error_rate gauge" in ok.text
        assert run_requests(app, [("GET", "/items/1")]) == [200]
        texts = [ok.text, scrape(app, {"Authorization": f"Bearer {TOKEN}"}).text]
        assert cap.value("http_requests_total") == 1  # the item, not the scrapes
        spans = cap.spans()
    logged = [r.getMessage() + repr(getattr(r, "azora", "")) for r in azora_records]
    attributes = [repr(dict(s.attributes or {})) + s.name for s in spans]
    assert len(spans) == 1
    for text in [*texts, *logged, *attributes]:
        assert TOKEN not in text


def test_allowed_networks_on_the_app_port() -> None:
    environ = {"AZORA_METRICS_ALLOWED_NETWORKS": "10.0.0.0/8"}
    with capture(environ) as cap:
        app = make_app(cap)
        assert scrape(app, client=("192.168.1.10", 40000)).status_code == 403
        assert scrape(app, client=("10.20.30.40", 40000)).status_code == 200
        assert cap.points("http_requests_total") == []


def test_token_and_networks_both_required() -> None:
    environ = {"AZORA_METRICS_ALLOWED_NETWORKS": "10.0.0.0/8", "AZORA_METRICS_TOKEN": TOKEN}
    with capture(environ) as cap:
        app = make_app(cap)
        good = {"Authorization": f"Bearer {TOKEN}"}
        assert scrape(app, good, client=("192.168.1.10", 1)).status_code == 403
        assert scrape(app, None, client=("10.1.1.1", 1)).status_code == 401
        assert scrape(app, good, client=("10.1.1.1", 1)).status_code == 200


def test_locked_exposition_answers_503_to_everyone() -> None:
    with capture({"AZORA_METRICS_TOKEN_FILE": "/nonexistent/token"}) as cap:
        app = make_app(cap)
        for headers in (None, {"Authorization": "Bearer anything"}):
            response = scrape(app, headers)
            assert response.status_code == 503
            assert "http_requests_total" not in response.text
        assert cap.points("http_requests_total") == []


def warnings_of(records: list[logging.LogRecord]) -> list[dict[str, object]]:
    return [
        r.azora  # type: ignore[attr-defined]
        for r in records
        if getattr(r, "azora", {}).get("event") == "exposition_unprotected"
    ]


def test_unprotected_scrape_on_a_public_address_is_reported_once(azora_records) -> None:
    with capture() as cap:
        app = make_app(cap)
        scrape(app, base_url="http://127.0.0.1:8000")
        assert warnings_of(azora_records) == []
        scrape(app, base_url="http://10.0.0.5:8000")
        scrape(app, base_url="http://10.0.0.5:8000")
    (warning,) = warnings_of(azora_records)
    assert "10.0.0.5" in str(warning["detail"])
    assert "AZORA_METRICS_TOKEN_FILE" in str(warning["detail"])


def test_protected_scrape_on_a_public_address_is_not_reported(azora_records) -> None:
    with capture({"AZORA_METRICS_TOKEN": TOKEN}) as cap:
        scrape(make_app(cap), base_url="http://10.0.0.5:8000")
    assert warnings_of(azora_records) == []
