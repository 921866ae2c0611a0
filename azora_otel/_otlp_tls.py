"""The OTLP/HTTP exporters trust the CA they are given, whatever ``requests``' environment says.

``OTEL_EXPORTER_OTLP_CERTIFICATE`` (or its per-signal variant) makes the SDK's
OTLP/HTTP exporter set ``session.verify`` to that CA file. ``requests`` then lets
``REQUESTS_CA_BUNDLE`` or ``CURL_CA_BUNDLE`` replace a session's ``verify`` on every
request (psf/requests#3829), so on a machine where either is set (Debian images,
corporate proxies, conda) the given CA is silently ignored and every export fails
certificate verification. The gRPC exporter reads the file itself and is not affected.

When a certificate variable is set, the HTTP exporters get a session that keeps its
own ``verify``; proxies and everything else still come from the environment. A
credential-provider session (``OTEL_PYTHON_EXPORTER_OTLP_HTTP_*CREDENTIAL_PROVIDER``)
is left alone: it is the user's own.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import requests

if TYPE_CHECKING:
    from requests.sessions import _Cert, _Settings, _TextMapping, _Verify

OTEL_EXPORTER_OTLP_CERTIFICATE = "OTEL_EXPORTER_OTLP_CERTIFICATE"
_HTTP_CREDENTIAL_PROVIDER = "OTEL_PYTHON_EXPORTER_OTLP_HTTP_CREDENTIAL_PROVIDER"


class CertificatePinnedSession(requests.Session):
    """A session whose own ``verify`` wins over ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE``."""

    def merge_environment_settings(
        self,
        url: str | bytes | None,
        proxies: _TextMapping | None,
        stream: bool | None,
        verify: _Verify | None,
        cert: _Cert | None,
    ) -> _Settings:
        merged = super().merge_environment_settings(url, proxies, stream, verify, cert)
        if verify is None:  # not chosen for this request: the session's choice stands
            merged["verify"] = self.verify
        return merged


def _http_signal(exporter_class: type) -> str | None:
    """``METRICS``/``TRACES`` for the SDK's OTLP/HTTP exporters, ``None`` for any other."""
    module = exporter_class.__module__
    if not module.startswith("opentelemetry.exporter.otlp.proto.http."):
        return None
    if "metric_exporter" in module:
        return "METRICS"
    if "trace_exporter" in module:
        return "TRACES"
    return None


def exporter_options(
    exporter_class: type, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Keyword arguments for ``exporter_class()``: a pinned session when it needs one."""
    env = os.environ if environ is None else environ
    signal = _http_signal(exporter_class)
    if signal is None:
        return {}
    certificate = env.get(f"OTEL_EXPORTER_OTLP_{signal}_CERTIFICATE") or env.get(
        OTEL_EXPORTER_OTLP_CERTIFICATE
    )
    provider = env.get(_HTTP_CREDENTIAL_PROVIDER) or env.get(
        f"OTEL_PYTHON_EXPORTER_OTLP_HTTP_{signal}_CREDENTIAL_PROVIDER"
    )
    if not certificate or provider:
        return {}
    return {"session": CertificatePinnedSession()}
