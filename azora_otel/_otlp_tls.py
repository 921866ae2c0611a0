"""The OTLP/HTTP exporters trust the CA they are given, whatever ``requests``' environment says.

``OTEL_EXPORTER_OTLP_CERTIFICATE`` (or its per-signal variant) makes the SDK's
OTLP/HTTP exporter set ``session.verify`` to that CA file. ``requests`` then lets
``REQUESTS_CA_BUNDLE`` or ``CURL_CA_BUNDLE`` replace a session's ``verify`` on every
request (psf/requests#3829), so on a machine where either is set (Debian images,
corporate proxies, conda) the given CA is silently ignored and every export fails
certificate verification. The gRPC exporter reads the file itself and is not affected.

The HTTP exporters get a session that keeps the CA file the exporter gives it (the
exporter reads its certificate variables itself and sets ``session.verify``); without
one, ``verify`` stays ``True`` and ``requests``' own trust store and variables apply
as for any session. Proxies and everything else still come from the environment. A
credential-provider session (``OTEL_PYTHON_EXPORTER_OTLP_HTTP_*CREDENTIAL_PROVIDER``,
carried by ``Settings.credential_provider_signals``) is left alone: it is the user's own.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

import requests

if TYPE_CHECKING:
    from requests.sessions import _Cert, _Settings, _TextMapping, _Verify


class CertificatePinnedSession(requests.Session):
    """A session whose own CA file wins over ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE``."""

    def merge_environment_settings(
        self,
        url: str | bytes | None,
        proxies: _TextMapping | None,
        stream: bool | None,
        verify: _Verify | None,
        cert: _Cert | None,
    ) -> _Settings:
        merged = super().merge_environment_settings(url, proxies, stream, verify, cert)
        if verify is None and isinstance(self.verify, str):
            merged["verify"] = self.verify  # not chosen for this request: the session's CA
        return merged


def _http_signal(exporter_class: type) -> str | None:
    """``metrics``/``traces`` for the SDK's OTLP/HTTP exporters, ``None`` for any other."""
    module = exporter_class.__module__
    if not module.startswith("opentelemetry.exporter.otlp.proto.http."):
        return None
    if "metric_exporter" in module:
        return "metrics"
    if "trace_exporter" in module:
        return "traces"
    return None


def exporter_options(exporter_class: type, provider_signals: Collection[str]) -> dict[str, Any]:
    """Keyword arguments for ``exporter_class()``: the pinned session for the SDK's
    OTLP/HTTP exporters, unless a credential provider gives this signal its session."""
    signal = _http_signal(exporter_class)
    if signal is None or signal in provider_signals:
        return {}
    return {"session": CertificatePinnedSession()}
