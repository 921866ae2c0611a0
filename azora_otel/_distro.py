"""Entry points for the upstream auto-instrumentation machinery.

``opentelemetry_distro = azora`` and ``opentelemetry_configurator = azora``:
``azora-otel-instrument`` selects both by name, so the distro boots even when
``opentelemetry-distro`` is installed alongside. The configurator builds the
providers; the distro lets every other installed instrumentor load as usual but
keeps FastAPI and SQLAlchemy for itself (the configurator hooks them).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from opentelemetry.instrumentation.distro import BaseDistro  # type: ignore[attr-defined]
from opentelemetry.sdk._configuration import _BaseConfigurator

from azora_otel._setup import configure

_log = logging.getLogger("azora_otel")

OWN_INSTRUMENTATIONS = frozenset({"fastapi", "sqlalchemy"})
"""Entry-point names the distro handles itself instead of loading the contrib instrumentor."""


class _OtherConfiguratorSkipped(logging.Filter):
    """Drops the loader's warning that another configurator (opentelemetry-distro's) was
    not loaded because ours was selected: that is the point of selecting ours."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        return not (
            isinstance(record.msg, str)
            and record.msg.startswith("Configuration of %s not loaded")
            and "azora" in args
        )


class AzoraDistro(BaseDistro):  # type: ignore[misc]
    def _configure(self, **kwargs: Any) -> None:
        """The configurator reads the environment itself; only quiet the loader."""
        loader = logging.getLogger("opentelemetry.instrumentation.auto_instrumentation._load")
        if not any(isinstance(f, _OtherConfiguratorSkipped) for f in loader.filters):
            loader.addFilter(_OtherConfiguratorSkipped())

    def load_instrumentor(self, entry_point: Any, **kwargs: Any) -> None:
        if entry_point.name in OWN_INSTRUMENTATIONS:
            _log.debug("instrumentation %s is handled by azora-otel", entry_point.name)
            return
        super().load_instrumentor(entry_point, **kwargs)


class AzoraConfigurator(_BaseConfigurator):
    def _configure(self, **kwargs: Any) -> None:
        configure(auto_instrument=True)
        # The upstream loader runs next and would check the contrib FastAPI and
        # SQLAlchemy instrumentors' version ranges (and warn that SQLAlchemy 2.1 is
        # out of range) although the distro never loads them. Hide them from it;
        # ``restore_environment`` (an opentelemetry_post_instrument hook) puts the
        # user's value back before the application starts.
        global _user_disabled  # noqa: PLW0603
        _user_disabled = os.environ.get(_DISABLED)
        own = ",".join(sorted(OWN_INSTRUMENTATIONS))
        os.environ[_DISABLED] = f"{_user_disabled},{own}" if _user_disabled else own


_DISABLED = "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"
_UNSET = object()
_user_disabled: object = _UNSET


def restore_environment() -> None:
    """Give the application back the ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`` it started with."""
    global _user_disabled  # noqa: PLW0603
    if _user_disabled is _UNSET:
        return
    if _user_disabled is None:
        os.environ.pop(_DISABLED, None)
    else:
        os.environ[_DISABLED] = str(_user_disabled)
    _user_disabled = _UNSET
