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
_forked = False
_multi_worker_warned = False


def install(telemetry: Telemetry) -> None:
    """Make ``telemetry`` the process-wide distro."""
    global _current, _settings, _fork_hook_installed  # noqa: PLW0603
    with _lock:
        _current = telemetry
        _settings = telemetry.settings
        if not _fork_hook_installed and hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=_forget_after_fork)
            atexit.register(shut_down_and_forget)
            _fork_hook_installed = True


def peek() -> Telemetry | None:
    """The process-wide distro as it is: ``None`` in a forked child until something
    uses it (:func:`get_or_rebuild`), so looking never builds one."""
    return _current


def get_or_rebuild() -> Telemetry | None:
    """The process-wide distro to record into, rebuilt first if this is a forked child
    (from the settings the parent was configured with)."""
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
    global _current, _lock, _forked  # noqa: PLW0603
    _lock = threading.Lock()
    _current = None
    _forked = True


def warn_if_one_of_several_workers(telemetry: Telemetry) -> None:
    """Say once that a worker's ``/metrics`` holds only that worker's counts.

    A forked child (gunicorn) or a spawned multiprocessing child (``uvicorn --workers``)
    is one of several processes serving the same port; each scrape reaches one of them.
    """
    global _multi_worker_warned  # noqa: PLW0603
    if _multi_worker_warned or telemetry.prometheus is None:
        return
    import multiprocessing  # noqa: PLC0415

    if not (_forked or multiprocessing.parent_process() is not None):
        return
    _multi_worker_warned = True
    detail = (
        "this process is one of several workers: its /metrics shows this worker's counts "
        "only; push to the collector (OTEL_METRICS_EXPORTER=otlp) for the service's totals"
    )
    _log.warning(
        "azora-otel: pid %d: %s",
        os.getpid(),
        detail,
        extra={"azora": {"event": "multiple_workers", "pid": os.getpid(), "detail": detail}},
    )


def swap(telemetry: Telemetry | None) -> tuple[Telemetry | None, Settings | None]:
    """Make ``telemetry`` the process-wide distro (``None``: no distro) without the fork and
    exit hooks of :func:`install`; returns what was there, for :func:`restore`.

    For ``azora_otel.testing.installed``: a test borrows the process-wide slot and gives
    it back, and neither telemetry is shut down.
    """
    global _current, _settings  # noqa: PLW0603
    with _lock:
        previous = (_current, _settings)
        _current = telemetry
        _settings = telemetry.settings if telemetry is not None else None
    return previous


def restore(previous: tuple[Telemetry | None, Settings | None]) -> None:
    """Put back what :func:`swap` returned."""
    global _current, _settings
    with _lock:
        _current, _settings = previous


def shut_down_and_forget() -> None:
    """Forget the process-wide distro, then flush and stop it (idempotent; at exit too)."""
    global _current, _settings
    with _lock:
        current, _current, _settings = _current, None, None
    if current is not None:
        current.shutdown()
