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
from collections.abc import Sequence

from azora_otel._settings import Settings
from azora_otel._version import __version__

USAGE = """\
usage: azora-otel-instrument [--help] [--version] COMMAND [ARGS...]

Run COMMAND with the azora-otel OpenTelemetry distro: FastAPI and SQLAlchemy
instrumented, the Prometheus metrics served on the service's own port at
/metrics (or pushed over OTLP), slow requests and queries counted.

examples:
  azora-otel-instrument python app.py
  azora-otel-instrument uvicorn app:app --port 8000
  azora-otel-instrument gunicorn -k uvicorn.workers.UvicornWorker -w 4 app:app

configuration (environment; see the README for all of it):
  PERF_API_LATENCY_MS   slow-request threshold, ms           (default 100)
  PERF_DB_QUERY_MS      slow-query threshold, ms             (default 50)
  PERF_ERROR_RATE       error-rate threshold, 0..1           (default 0.001)
  AZORA_METRICS_PATH    exposition path on the app's port    (default /metrics; off)
  AZORA_METRICS_PORT    serve the exposition on its own port instead
  AZORA_METRICS_HOST    address that port binds to           (default 127.0.0.1)
  AZORA_METRICS_TOKEN_FILE, AZORA_METRICS_TOKEN
                        bearer token scrapes must send (a file holding it, or the token)
  AZORA_METRICS_ALLOWED_NETWORKS
                        client networks that may scrape, e.g. 10.0.0.0/8,192.168.1.7
  AZORA_OTHER_METRICS   other meters' metrics: drop | keep | meter,names (default drop)
  AZORA_OTHER_METRICS_LIMIT
                        label sets per kept instrument of another meter (default 200)
  AZORA_LOG_FORMAT      text | json | off                    (default text)
  AZORA_SAMPLING_GATE   sample before building span attributes (default true)
  AZORA_SPAN_ENCODER    azora | upstream OTLP span encoding  (default azora)
  OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_METRICS_EXPORTER (default prometheus;
  otlp pushes to a collector), OTEL_TRACES_EXPORTER, OTEL_EXPORTER_OTLP_*, OTEL_TRACES_SAMPLER,
  OTEL_PYTHON_DISABLED_INSTRUMENTATIONS keep their OpenTelemetry meaning.

Invalid values are reported and replaced by their defaults; the service always starts.
An unusable exposition protection (empty token, unreadable token file, bad network)
locks the exposition instead (503 to every scrape): it is never served unprotected.
"""


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
