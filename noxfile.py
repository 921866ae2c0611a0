"""Development sessions: ``nox -l`` lists them; ``make test`` runs the CI set."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nox

PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
"""Every CPython the package supports (``requires-python >= 3.10``)."""
MAIN_PYTHON = "3.11"


def _pyenv_on_path() -> None:
    """Put pyenv's interpreters on PATH: its shims only run the version that is active,
    so ``python3.10`` would not be found otherwise."""
    versions = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    found = []
    for version in PYTHONS:
        candidates = sorted(versions.glob(f"{version}.*/bin/python{version}"))
        if candidates:
            found.append(str(candidates[-1].parent))
    os.environ["PATH"] = os.pathsep.join([*found, os.environ.get("PATH", "")])


_pyenv_on_path()
nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True  # a missing Python fails, never skips
nox.options.sessions = [
    "lint",
    "typecheck",
    f"tests-{MAIN_PYTHON}",
    "tests-3.10",  # the oldest and the newest supported Python: in-process tests
    "tests-3.13",
    "db_compat",
    "fastapi_compat",
    "real_service",
]
PREFECT = "prefect==3.9.1"
"""The real open-source service the distro is checked on (FastAPI + async SQLAlchemy)."""

PYPROJECT = nox.project.load_toml("pyproject.toml")
TEST_DEPS = nox.project.dependency_groups(PYPROJECT, "test")


def _install(session: nox.Session, *extra: str) -> None:
    session.install("-e", ".", *TEST_DEPS, *extra)


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """The tests: all on 3.11, in-process ones (``-m "not e2e"``) on 3.10, 3.12, 3.13.

    On 3.11 also the end-to-end ones (collector, Prometheus, Alertmanager, PostgreSQL,
    real servers); arguments replace the default selection on any Python."""
    _install(session)
    default = [] if session.python == MAIN_PYTHON else ["-m", "not e2e"]
    session.run("pytest", *(session.posargs or default))


@nox.session(python=MAIN_PYTHON)
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=MAIN_PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the package."""
    session.install("-e", ".", *nox.project.dependency_groups(PYPROJECT, "lint"))
    session.run("mypy")


@nox.session(python=MAIN_PYTHON)
@nox.parametrize("sqlalchemy", ["2.0", "2.1"])
def db_compat(session: nox.Session, sqlalchemy: str) -> None:
    """The database tests on the newest SQLAlchemy of each supported minor release."""
    _install(session, f"sqlalchemy~={sqlalchemy}.0")
    session.run("python", "-c", "import sqlalchemy; print('SQLAlchemy', sqlalchemy.__version__)")
    session.run(
        "pytest",
        "tests/test_sql_parse.py",
        "tests/test_db_metrics.py",
        "tests/test_db_spans.py",
        "tests/test_db_migrations.py",
        "tests/test_db_postgres.py",
        *session.posargs,
    )


@nox.session(python=MAIN_PYTHON)
@nox.parametrize("fastapi", ["0.110", "0.141"])
def fastapi_compat(session: nox.Session, fastapi: str) -> None:
    """The HTTP tests and the conformance corpus on FastAPI without native telemetry.

    The oldest supported (0.110), and the last before native telemetry (0.141, which
    already includes routers lazily)."""
    _install(session, f"fastapi=={fastapi}.*")
    session.run("python", "-c", "import fastapi; print('FastAPI', fastapi.__version__)")
    session.run(
        "pytest",
        "tests/test_http_metrics.py",
        "tests/test_http_mounts.py",
        "tests/test_exposition.py",
        "tests/test_metrics_path.py",
        "tests/conformance",
        "tests/test_otlp_encode.py",  # the contrib server span is the distro's span here
        "tests/test_sampling_gate.py",
        # Starlette 0.36's TestClient leaks anyio memory streams with current anyio
        # (ResourceWarning); the TestClient case runs in the tests session.
        "--deselect=tests/test_exposition.py::test_get_metrics_after_a_testclient_block",
        # The server span builder is compared with FastAPI's native telemetry, which
        # these versions do not have (the distro's span here is the contrib one).
        "--ignore=tests/conformance/test_server_span.py",
        *session.posargs,
    )


@nox.session(python=MAIN_PYTHON)
def real_service(session: nox.Session) -> None:
    """Prefect's server from PyPI under azora-otel-instrument, driven by its OpenAPI schema."""
    _install(session, PREFECT)
    session.run("python", "-c", "import prefect; print('Prefect', prefect.__version__)")
    session.run("pytest", "-s", "tests/real_services", *session.posargs)


@nox.session(python=MAIN_PYTHON, default=False)
def demo(session: nox.Session) -> None:
    """The shop example under azora-otel-instrument with real traffic."""
    session.install("-e", ".", "uvicorn")
    session.run("python", "examples/demo.py", *session.posargs)


@nox.session(python=MAIN_PYTHON, default=False)
def reliability(session: nox.Session) -> None:
    """Load, hostile input, pre-fork and collector-fault figures (reliability/results.md)."""
    _install(session)
    session.run("python", "reliability/run.py", *session.posargs)


@nox.session(python=MAIN_PYTHON, default=False)
def bench(session: nox.Session) -> None:
    """Overhead benchmarks against the anchors (benchmarks/); pass --quick for a short run."""
    if shutil.which("wrk") is None:  # the uvicorn part's load generator
        session.run("bash", "scripts/install-system-deps.sh", external=True)
    session.install("-e", ".", *nox.project.dependency_groups(PYPROJECT, "bench"))
    session.run("python", "benchmarks/run.py", *session.posargs)
