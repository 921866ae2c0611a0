"""Binaries the stack tests build from Go modules: Prometheus 3 (and its promtool), Jaeger v2.

Each comes from an environment variable naming a prebuilt binary, else from its build
script (``scripts/build-prometheus.sh``, ``scripts/build-jaeger.sh``), which reuses the
cached build when there is one and builds it otherwise (minutes, once per machine).
A failed build raises ``StackError``: the tests that need the binary fail, never skip.
``make test`` runs the scripts before the test sessions, so the tests find the cache.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from stack import REPO_ROOT, StackError, run_build

SCRIPTS = REPO_ROOT / "scripts"

_lock = threading.Lock()
_built: dict[str, Path] = {}


def _from_script(script: str) -> Path:
    """The last stdout line of ``scripts/<script>`` (its progress goes to our stderr)."""
    with _lock:
        if script not in _built:
            _built[script] = run_build(SCRIPTS / script, "the first build takes many minutes")
        return _built[script]


def _binary(env_var: str, script: str, name: str | None = None) -> Path:
    override = os.environ.get(env_var)
    if override:
        path = Path(override)
    else:
        path = _from_script(script)
        if name is not None:
            path = path.with_name(name)
    if not (path.is_file() and os.access(path, os.X_OK)):
        source = f"{env_var}={override!r}" if override else f"scripts/{script}"
        raise StackError(f"{source}: {path} is not an executable file")
    return path


def prometheus3_binary() -> Path:
    """Prometheus 3.x: ``AZORA_PROMETHEUS3_BIN`` or scripts/build-prometheus.sh."""
    return _binary("AZORA_PROMETHEUS3_BIN", "build-prometheus.sh")


def promtool3_binary() -> Path:
    """promtool 3.x: ``AZORA_PROMTOOL3_BIN`` or the one built next to Prometheus 3."""
    return _binary("AZORA_PROMTOOL3_BIN", "build-prometheus.sh", name="promtool")


def jaeger_binary() -> Path:
    """Jaeger v2: ``AZORA_JAEGER_BIN`` or scripts/build-jaeger.sh."""
    return _binary("AZORA_JAEGER_BIN", "build-jaeger.sh")
