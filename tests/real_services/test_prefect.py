"""A real FastAPI + SQLAlchemy service nobody here wrote: Prefect's server, from PyPI.

``azora-otel-instrument prefect server start`` (FastAPI with mounted sub-applications,
async SQLAlchemy on SQLite, Alembic migrations at start-up, background services),
driven through its own OpenAPI schema. Oracles, none of them the distro's:

- the status each request got on the client;
- the service's own route table, as its OpenAPI schema states it;
- FastAPI's own ``http.route`` on its native server spans (console exporter), request
  by request: the exposition's counts must equal the spans' exactly;
- the database's own catalog (``sqlite_master``) for the ``model`` labels.

Run by ``nox -s real_service`` (which installs the pinned Prefect); not collected where
Prefect is not installed.
"""

from __future__ import annotations

import json
import re
import signal
import sqlite3
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from openapi_driver import Sent, drive
from stack import ManagedProcess, free_port, json_objects, say, start_process, wait_until_ready

from azora_otel._sql import OVERFLOW_MODEL, UNKNOWN_MODEL

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent
CONTRACT = {
    "http_request_duration_ms",
    "http_requests_total",
    "http_error_rate",
    "slow_requests_total",
    "db_query_duration_ms",
    "db_queries_total",
    "slow_queries_total",
}
SKIP = ("/admin/database",)  # clear/drop/create the database under the running service
SQLITE_CATALOG = {"sqlite_master", "sqlite_schema", "sqlite_temp_master", "sqlite_sequence"}
Key = tuple[str, str, str]


@dataclass
class Prefect:
    process: ManagedProcess
    base: str
    database: Path
    startup_exposition: str

    def scrape(self) -> str:
        return httpx.get(self.base + "/metrics", timeout=60).text


@pytest.fixture(scope="module")
def prefect(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prefect]:
    home = tmp_path_factory.mktemp("prefect")
    database = home / "prefect.db"
    port = free_port()
    env = {
        "PREFECT_HOME": str(home),
        "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{database}",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
        "OTEL_SERVICE_NAME": "prefect",
        "OTEL_TRACES_EXPORTER": "console",  # FastAPI's own server spans, to compare with
        "OTEL_BSP_MAX_QUEUE_SIZE": "1000000",  # one span per SQL statement too: drop none
        "AZORA_LOG_FORMAT": "json",
    }
    command = [str(BIN / "azora-otel-instrument"), str(BIN / "prefect"), "server", "start"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    process = start_process("prefect", command, home, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        # migrations run first: minutes on a busy machine
        wait_until_ready(process, base + "/api/health", timeout=600)
        startup = httpx.get(base + "/metrics", timeout=60).text
        yield Prefect(process, base, database, startup)
    finally:
        process.stop(timeout=60, sig=signal.SIGTERM)


def counted(text: str) -> Counter[Key]:
    found: Counter[Key] = Counter()
    pattern = re.compile(r"^http_requests_total\{(.*)\} ([0-9.e+]+)$", re.M)
    for labels, value in pattern.findall(text):
        pairs = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        found[(pairs["method"], pairs["route"], pairs["status_code"])] += int(float(value))
    return found


def families(text: str) -> set[str]:
    return {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}


def queries(text: str) -> dict[str, float]:
    """``db_queries_total`` summed by ``model``."""
    found: dict[str, float] = {}
    for model, value in re.findall(
        r'^db_queries_total\{[^}]*model="([^"]*)"[^}]*\} (\S+)$', text, re.M
    ):
        found[model] = found.get(model, 0.0) + float(value)
    return found


def server_spans(log: str) -> Counter[Key]:
    """(method, http.route or ``unmatched``, status) of every FastAPI server span."""
    found: Counter[Key] = Counter()
    for block in json_objects(log):
        if '"SpanKind.SERVER"' not in block:
            continue
        attributes = json.loads(block)["attributes"]
        if "http.request.method" not in attributes:  # a websocket connection
            continue
        found[
            (
                attributes["http.request.method"],
                attributes.get("http.route", "unmatched"),
                str(attributes["http.response.status_code"]),
            )
        ] += 1
    return found


def send_everything(prefect: Prefect) -> list[tuple[Sent, str]]:
    """Every operation of the service's schema, a flow created and read back, and paths
    no route has; each with the route label it must get."""
    spec = httpx.get(prefect.base + "/api/openapi.json", timeout=60).json()
    assert spec["servers"] == [{"url": "/api"}]
    # uvicorn closes a connection whose application raised: one connection per request
    no_reuse = httpx.Limits(max_keepalive_connections=0)
    with httpx.Client(base_url=prefect.base, timeout=120, limits=no_reuse) as client:
        sent = [(s, "/api" + s.template) for s in drive(client, spec, "/api", SKIP)]
        flow = client.post("/api/flows/", json={"name": "azora-check"})
        sent.append((Sent("POST", "/api/flows/", "/flows/", flow.status_code), "/api/flows/"))
        read = client.get(f"/api/flows/{flow.json()['id']}")
        sent.append(
            (Sent("GET", "/api/flows/x", "/flows/{id}", read.status_code), "/api/flows/{id}")
        )
        # Paths no route has. Both reach a mount (the API application at /api, and one
        # at /): FastAPI's http.route is the mount's template then, and so is the label.
        for path, label in (("/api/no/such/thing", "/api/{path}"), ("/wp-login.php", "/{path}")):
            sent.append((Sent("GET", path, "", client.get(path).status_code), label))
    return sent


def wait_for(prefect: Prefect, expected: Counter[Key]) -> str:
    """Scrape until every request sent is counted (recording follows the last byte)."""
    deadline = time.monotonic() + 120
    while True:
        text = prefect.scrape()
        if not expected - counted(text) or time.monotonic() > deadline:
            return text
        time.sleep(0.5)


def test_prefect_server_labels_statuses_and_tables(prefect: Prefect) -> None:
    startup = prefect.startup_exposition
    say(
        f"prefect after start-up: exposition {len(startup.encode())} bytes, "
        f"{sum(1 for x in startup.splitlines() if x and not x.startswith('#'))} samples, "
        f"foreign families: {sorted(families(startup) - CONTRACT)}"
    )
    sent = send_everything(prefect)
    expected: Counter[Key] = Counter((s.method, label, str(s.status)) for s, label in sent)
    text = wait_for(prefect, expected)
    found = counted(text)

    # 1. Every request, with the status its client received, under the template of the
    #    operation the service's own schema declares for it.
    assert not expected - found, f"sent but not counted so: {expected - found}"
    assert sum(found.values()) >= len(sent)
    statuses = Counter(s.status for s, _ in sent)
    say(f"prefect: {len(sent)} requests sent, statuses {dict(sorted(statuses.items()))}")

    # 2. The database's own catalog names every model label of the queries made while the
    #    service ran (or the label is a documented fixed value). The migrations before
    #    that created, renamed and dropped tables the final catalog no longer has.
    with closing(sqlite3.connect(prefect.database)) as db:
        tables = {name for (name,) in db.execute("select name from sqlite_master")}
    allowed = tables | SQLITE_CATALOG | {UNKNOWN_MODEL, OVERFLOW_MODEL}
    before, after = queries(startup), queries(text)
    running = {model for model, n in after.items() if n > before.get(model, 0.0)}
    assert running, "no query counted while the service ran"
    assert running <= allowed, f"model labels that are no table: {running - allowed}"
    gone = sorted(set(before) - allowed)
    say(
        f"prefect: {len(running)} model labels while serving, all in its catalog or fixed; "
        f"{len(before)} after start-up, {len(gone)} of them tables the migrations dropped or "
        f"renamed: {gone}"
    )

    # 3. FastAPI's own http.route and status, span by span, equal the counts exactly.
    code = prefect.process.stop(timeout=60, sig=signal.SIGTERM)  # flushes the spans
    assert code in (0, -signal.SIGTERM), prefect.process.log_tail()
    spans = server_spans(prefect.process.log_path.read_text(errors="replace"))
    assert spans == found, f"spans only: {spans - found}; counted only: {found - spans}"
    say(
        f"prefect: {sum(found.values())} requests counted, {len(found)} series; "
        f"exposition {len(text.encode())} bytes, foreign families "
        f"{len(families(text) - CONTRACT)}"
    )
