"""Development sessions: ``nox -l`` lists them; ``make test`` runs the CI set."""

from __future__ import annotations

import shutil

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["lint", "typecheck", "tests", "db_compat", "fastapi_compat"]

PYPROJECT = nox.project.load_toml("pyproject.toml")
TEST_DEPS = nox.project.dependency_groups(PYPROJECT, "test")
# Installed beside the distro on purpose: the launcher must win over it.
ALONGSIDE = ["opentelemetry-distro==0.66b2"]


def _install(session: nox.Session, *extra: str) -> None:
    session.install("-e", ".", *TEST_DEPS, *ALONGSIDE, *extra)


@nox.session(python="3.11")
def tests(session: nox.Session) -> None:
    """All tests: unit, end-to-end (collector, Prometheus, Alertmanager, PostgreSQL)."""
    _install(session)
    session.run("pytest", *session.posargs)


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python="3.11")
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the package."""
    session.install("-e", ".", *nox.project.dependency_groups(PYPROJECT, "lint"))
    session.run("mypy")


@nox.session(python="3.11")
@nox.parametrize("sqlalchemy", ["2.0", "2.1"])
def db_compat(session: nox.Session, sqlalchemy: str) -> None:
    """The database tests on the newest SQLAlchemy of each supported minor release."""
    _install(session, f"sqlalchemy~={sqlalchemy}.0")
    session.run("python", "-c", "import sqlalchemy; print('SQLAlchemy', sqlalchemy.__version__)")
    session.run(
        "pytest",
        "tests/test_sql_parse.py",
        "tests/test_db_metrics.py",
        "tests/test_db_postgres.py",
        *session.posargs,
    )


@nox.session(python="3.11")
def fastapi_compat(session: nox.Session) -> None:
    """The HTTP tests on the oldest supported FastAPI (0.110: no native telemetry)."""
    _install(session, "fastapi==0.110.*")
    session.run("python", "-c", "import fastapi; print('FastAPI', fastapi.__version__)")
    session.run(
        "pytest",
        "tests/test_http_metrics.py",
        "tests/test_http_mounts.py",
        "tests/test_otlp_encode.py",  # the contrib server span is the distro's span here
        "tests/test_sampling_gate.py",
        *session.posargs,
    )


@nox.session(python="3.11", default=False)
def demo(session: nox.Session) -> None:
    """The shop example under azora-otel-instrument with real traffic."""
    session.install("-e", ".", "uvicorn")
    session.run("python", "examples/demo.py", *session.posargs)


@nox.session(python="3.11", default=False)
def reliability(session: nox.Session) -> None:
    """Load, hostile input, pre-fork and collector-fault figures (reliability/results.md)."""
    _install(session)
    session.run("python", "reliability/run.py", *session.posargs)


@nox.session(python="3.11", default=False)
def bench(session: nox.Session) -> None:
    """Overhead benchmarks against the anchors (benchmarks/); pass --quick for a short run."""
    if shutil.which("wrk") is None:  # the uvicorn part's load generator
        session.run("bash", "scripts/install-system-deps.sh", external=True)
    session.install("-e", ".", *nox.project.dependency_groups(PYPROJECT, "bench"))
    session.run("python", "benchmarks/run.py", *session.posargs)
