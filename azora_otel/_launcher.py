"""``azora-otel-instrument COMMAND [ARGS...]``: run any command with the distro booted.

Works like ``opentelemetry-instrument``: it puts the upstream auto-instrumentation
``sitecustomize`` on ``PYTHONPATH``, selects this distro and configurator by name,
and replaces itself with the command. Every Python process the command starts
(uvicorn workers, gunicorn) boots the distro the same way.
"""

from __future__ import annotations

import os
import shutil
import sys
import textwrap
from collections.abc import Sequence

from azora_otel._settings import Settings
from azora_otel._variables import VARIABLES
from azora_otel._version import __version__

_USAGE = """\
usage: azora-otel-instrument [--help] [--version] COMMAND [ARGS...]

Run COMMAND with the azora-otel OpenTelemetry distro: FastAPI and SQLAlchemy
instrumented, the Prometheus metrics served on the service's own port at
/metrics (or pushed over OTLP), slow requests and queries counted.

examples:
  azora-otel-instrument python app.py
  azora-otel-instrument uvicorn app:app --port 8000
  azora-otel-instrument gunicorn -k uvicorn.workers.UvicornWorker -w 4 app:app

configuration (environment variables; an empty value counts as unset, except that
an empty token, token file or network list locks the exposition):
{configuration}

Invalid values are reported and replaced by their defaults; the service always starts.
An unusable exposition protection (empty token, unreadable token file, bad network)
locks the exposition instead (503 to every scrape): it is never served unprotected.
"""


def _configuration_help() -> str:
    """One entry per row of the variables table, in its order."""
    lines: list[str] = []
    for row in VARIABLES:
        default = "unset by default" if row.unset_by_default else f"default {row.shown_default}"
        lines.append(f"  {row.name} ({default})")
        lines.extend(
            textwrap.wrap(
                row.doc.replace("`", ""), 79, initial_indent=" " * 6, subsequent_indent=" " * 6
            )
        )
    return "\n".join(lines)


USAGE = _USAGE.format(configuration=_configuration_help())


def _sitecustomize_dir() -> str:
    import opentelemetry.instrumentation.auto_instrumentation as auto  # noqa: PLC0415

    return os.path.dirname(os.path.abspath(auto.__file__))


def prepare_environment(environ: dict[str, str], cwd: str) -> None:
    """The environment the command runs in: our distro selected, sitecustomize first."""
    environ["OTEL_PYTHON_DISTRO"] = "azora"
    environ["OTEL_PYTHON_CONFIGURATOR"] = "azora"
    boot = _sitecustomize_dir()
    parts = [p for p in environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != boot]
    if cwd not in parts:
        parts.insert(0, cwd)
    environ["PYTHONPATH"] = os.pathsep.join([boot, *parts])


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        sys.stdout.write(USAGE)
        return 0 if args else 2
    if args[0] == "--version":
        from opentelemetry.sdk.version import __version__ as sdk_version  # noqa: PLC0415

        sys.stdout.write(f"azora-otel-instrument {__version__} (opentelemetry-sdk {sdk_version})\n")
        return 0
    if args[0].startswith("-"):
        sys.stderr.write(f"azora-otel-instrument: unknown option {args[0]!r}\n\n{USAGE}")
        return 2
    command = args[0]
    executable = shutil.which(command)
    if executable is None:
        sys.stderr.write(f"azora-otel-instrument: command not found: {command}\n")
        return 127
    # Report configuration mistakes before the command's own output buries them;
    # the booted process reports them again on the azora_otel logger.
    for problem in Settings.from_env(os.environ).problems:
        sys.stderr.write(f"azora-otel-instrument: warning: {problem}\n")
    environ = dict(os.environ)
    prepare_environment(environ, os.getcwd())
    os.execve(executable, [executable, *args[1:]], environ)  # noqa: S606 - exec, like opentelemetry-instrument
    return 0  # pragma: no cover - execve does not return


if __name__ == "__main__":
    raise SystemExit(main())
