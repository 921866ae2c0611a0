"""The process-wide distro: configured once, rebuilt lazily in a forked child.

A pre-fork server (gunicorn) may boot the distro in its master and fork workers
afterwards. Exporter threads do not survive a fork and every worker needs its own
``service.instance.id``, so a forked child drops the parent's telemetry and builds
its own from the same settings on first use.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading

from azora_otel._settings import Settings
from azora_otel._telemetry import Telemetry

_log = logging.getLogger("azora_otel")
_lock = threading.Lock()
_current: Telemetry | None = None
_settings: Settings | None = None
_fork_hook_installed = False


def install(telemetry: Telemetry) -> None:
    """Make ``telemetry`` the process-wide distro."""
    global _current, _settings, _fork_hook_installed  # noqa: PLW0603
    with _lock:
        _current = telemetry
        _settings = telemetry.settings
        if not _fork_hook_installed and hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=_forget_after_fork)
            atexit.register(shutdown)
            _fork_hook_installed = True


def get() -> Telemetry | None:
    """The process-wide distro, rebuilt first if this is a forked child."""
    current = _current
    if current is not None or _settings is None:
        return current
    return _rebuild()


def _rebuild() -> Telemetry | None:
    global _current  # noqa: PLW0603
    with _lock:
        if _current is None and _settings is not None:
            try:
                _current = Telemetry.build(_settings)
            except Exception:  # noqa: BLE001 - the worker keeps serving without metrics
                _log.exception("could not rebuild telemetry in worker %d", os.getpid())
                return None
        return _current


def _forget_after_fork() -> None:
    global _current, _lock  # noqa: PLW0603
    _lock = threading.Lock()
    _current = None


def shutdown() -> None:
    """Flush and stop the process-wide distro (idempotent)."""
    global _current, _settings
    with _lock:
        current, _current, _settings = _current, None, None
    if current is not None:
        current.shutdown()
