"""A real PostgreSQL server for the ``postgres``-marked tests.

``AZORA_TEST_POSTGRES_URL`` (``postgresql://user:password@host:port/dbname``) points the
tests at an existing server. Otherwise one is started for the session from the
PostgreSQL binaries (``initdb``, ``pg_ctl``; Debian puts them in
``/usr/lib/postgresql/<version>/bin``, ``AZORA_PG_BIN`` overrides): a throw-away
cluster in a temporary directory, listening on a free 127.0.0.1 port and a unix
socket in that directory, ``fsync`` off. PostgreSQL refuses to run as root, so as
root the server runs as the ``postgres`` system user (or ``nobody``).

A missing server fails the tests with the reason; it never skips them.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import URL, make_url

from azora_otel.testing import free_port

POSTGRES_URL_ENV = "AZORA_TEST_POSTGRES_URL"
PG_BIN_ENV = "AZORA_PG_BIN"
DATABASE = "azora_test"
DRIVERS = {"psycopg": "postgresql+psycopg", "asyncpg": "postgresql+asyncpg"}

PostgresUrl = Callable[[str], str]
"""``postgres_url("psycopg")`` / ``postgres_url("asyncpg")``: a SQLAlchemy URL for that driver."""


def _bin_dir() -> Path:
    configured = os.environ.get(PG_BIN_ENV)
    candidates = [configured] if configured else []
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(str(Path(on_path).parent))
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").is_file():
            return Path(candidate)
    pytest.fail(
        "PostgreSQL tests need a server: install the PostgreSQL server binaries "
        "(Debian: apt-get install postgresql; searched /usr/lib/postgresql/*/bin and PATH; "
        f"{PG_BIN_ENV} overrides) or set {POSTGRES_URL_ENV} to an existing server",
        pytrace=False,
    )


def _run_as() -> tuple[list[str], int | None, int | None]:
    """Command prefix and uid/gid to run the server as (PostgreSQL refuses root)."""
    if os.geteuid() != 0:
        return [], None, None
    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        runner = shutil.which("runuser")
        if runner is None:
            pytest.fail(
                "running the tests as root needs runuser to start PostgreSQL", pytrace=False
            )
        return [runner, "-u", name, "--"], entry.pw_uid, entry.pw_gid
    pytest.fail("running as root, and neither a postgres nor a nobody user exists", pytrace=False)


def _check(cmd: list[str], what: str, log: Path | None = None) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)
    if done.returncode != 0:
        extra = log.read_text(errors="replace")[-2000:] if log is not None and log.exists() else ""
        pytest.fail(
            f"PostgreSQL: {what} failed ({done.returncode}):\n"
            f"{done.stdout}\n{done.stderr}\n{extra}",
            pytrace=False,
        )


@contextlib.contextmanager
def _own_server() -> Iterator[URL]:
    bin_dir = _bin_dir()
    prefix, uid, gid = _run_as()
    root = Path(tempfile.mkdtemp(prefix="azora-pg-"))
    data, sockets, log = root / "data", root / "sockets", root / "server.log"
    sockets.mkdir()
    if uid is not None and gid is not None:
        for path in (root, sockets):
            os.chown(path, uid, gid)
    port = free_port()
    pg_ctl = [*prefix, str(bin_dir / "pg_ctl"), "-D", str(data)]
    started = False
    try:
        _check(
            [
                *prefix,
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--no-sync",
            ],
            "initdb",
        )
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={sockets} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=50 -c shared_buffers=32MB"
        )
        _check(
            [*pg_ctl, "-l", str(log), "-o", options, "-w", "-t", "60", "start"], "pg_ctl start", log
        )
        started = True
        _check(
            [
                *prefix,
                str(bin_dir / "createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-U",
                "postgres",
                DATABASE,
            ],
            "createdb",
            log,
        )
        yield URL.create("postgresql", "postgres", None, "127.0.0.1", port, DATABASE)
    finally:
        if started:
            subprocess.run(
                [*pg_ctl, "-m", "fast", "-w", "stop"], capture_output=True, check=False, timeout=120
            )
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[URL]:
    """The server's base URL (no driver): an existing one, or one started for the session."""
    existing = os.environ.get(POSTGRES_URL_ENV)
    if existing:
        yield make_url(existing).set(drivername="postgresql")
        return
    with _own_server() as url:
        yield url


@pytest.fixture(scope="session")
def postgres_url(postgres_server: URL) -> PostgresUrl:
    """A URL builder: ``postgres_url("psycopg")`` or ``postgres_url("asyncpg")``."""

    def build(driver: str) -> str:
        return postgres_server.set(drivername=DRIVERS[driver]).render_as_string(hide_password=False)

    return build
