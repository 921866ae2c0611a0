"""Series and bytes in the exposition after a migration-heavy start-up.

Runs a real open-source server that migrates its own SQLite database at start-up,
Prefect's API server (``prefect server start``: about 170 Alembic revisions, many in
SQLite batch mode), under ``azora-otel-instrument``, waits until it accepts
connections (uvicorn only does once the lifespan start-up, and so the migrations,
has finished), scrapes ``/metrics`` once and reports what the start-up left there:
bytes, sample lines, ``(operation, model)`` pairs, distinct models.

Prefect is big (about 150 packages), so it lives in its own virtualenv, made on the
first run:

    python benchmarks/migration_startup.py --venv /tmp/prefect-venv
    python benchmarks/migration_startup.py --venv /tmp/prefect-venv --distro /path/to/other/checkout

``--distro`` installs the given checkout of azora-otel into that virtualenv first
(default: this one), so two versions can be compared on the same Prefect.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from azora_otel.testing import free_port

PREFECT = "prefect==3.9.1"
REPO = Path(__file__).resolve().parent.parent
_LABELS = re.compile(r'(\w+)="([^"]*)"')


def _setup(venv: Path, distro: Path) -> None:
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", PREFECT], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--force-reinstall", "--no-deps", str(distro)],
        check=True,
    )
    subprocess.run([str(python), "-m", "pip", "install", "-q", str(distro)], check=True)


def _scrape_after_startup(venv: Path, home: Path, timeout_s: float) -> tuple[str, float]:
    port = free_port()
    env = {
        **os.environ,
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "OTEL_SERVICE_NAME": "prefect",
    }
    command = [
        "azora-otel-instrument",
        "prefect",
        "server",
        "start",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-services",
        "--no-ui",
        "--analytics-off",
    ]
    log = (home / "server.log").open("wb")
    started = time.monotonic()
    proc = subprocess.Popen(  # cwd: not a checkout, whose azora_otel would shadow the installed one
        command, env=env, cwd=home, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        while time.monotonic() - started < timeout_s:
            if proc.poll() is not None:
                raise SystemExit(f"server exited with {proc.returncode}; see {home / 'server.log'}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                    return r.read().decode(), time.monotonic() - started
            except OSError:
                time.sleep(1)
        raise SystemExit(f"no /metrics within {timeout_s} s; see {home / 'server.log'}")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
        log.close()


def summarize(exposition: str) -> dict[str, object]:
    """Bytes, sample lines and the ``(operation, model)`` pairs of the DB metrics."""
    samples = [line for line in exposition.splitlines() if line and not line.startswith("#")]
    db = [line for line in samples if line.startswith(("db_", "slow_queries_total"))]
    pairs: set[tuple[str, str]] = set()
    for line in db:
        labels = dict(_LABELS.findall(line))
        if "operation" in labels:
            pairs.add((labels["operation"], labels.get("model", "")))
    operations = collections.Counter(operation for operation, _ in pairs)
    return {
        "bytes": len(exposition.encode()),
        "samples": len(samples),
        "db_samples": len(db),
        "pairs": len(pairs),
        "models": len({model for _, model in pairs}),
        "pairs_by_operation": dict(operations.most_common()),
        "temporary_models": sorted({m for _, m in pairs if m.startswith("_alembic_tmp_")}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", type=Path, required=True, help="virtualenv for Prefect")
    parser.add_argument("--distro", type=Path, default=REPO, help="azora-otel checkout")
    parser.add_argument("--no-install", action="store_true", help="use the venv as it is")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--save", type=Path, help="write the exposition there")
    parser.add_argument("--home", type=Path, help="PREFECT_HOME to keep (default: a temporary one)")
    args = parser.parse_args()
    if not args.no_install:
        _setup(args.venv, args.distro)
    with tempfile.TemporaryDirectory(prefix="azora-migrations-") as tmp:
        home = args.home or Path(tmp)
        home.mkdir(parents=True, exist_ok=True)
        exposition, seconds = _scrape_after_startup(args.venv, home, args.timeout)
    if args.save:
        args.save.write_text(exposition)
    print(json.dumps({"startup_s": round(seconds, 1), **summarize(exposition)}, indent=2))


if __name__ == "__main__":
    main()
