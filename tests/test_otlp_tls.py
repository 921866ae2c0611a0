"""The OTLP/HTTP exporters keep the CA given by OTEL_EXPORTER_OTLP_*CERTIFICATE even when
REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE are set (requests would let them win).

The end-to-end proof, a real Collector with TLS on, is in test_collector_security.py.
"""

from __future__ import annotations

import pytest
import requests
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
    OTLPMetricExporter as GrpcMetricExporter,
)
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
    OTLPMetricExporter as HttpMetricExporter,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpSpanExporter,
)

from azora_otel._otlp_tls import CertificatePinnedSession, exporter_options

URL = "https://collector.example:4318/v1/metrics"


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"])
def test_requests_lets_the_environment_replace_a_sessions_ca(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    """The upstream behaviour the distro works around (psf/requests#3829)."""
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    monkeypatch.setenv(variable, "/etc/ssl/certs/system-bundle.pem")
    session = requests.Session()
    session.verify = "/etc/otlp/ca.pem"
    merged = session.merge_environment_settings(URL, {}, None, None, None)
    assert merged["verify"] == "/etc/ssl/certs/system-bundle.pem"


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"])
def test_pinned_session_keeps_its_own_ca(monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    monkeypatch.setenv(variable, "/etc/ssl/certs/system-bundle.pem")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    session = CertificatePinnedSession()
    session.verify = "/etc/otlp/ca.pem"
    merged = session.merge_environment_settings(URL, {}, None, None, None)
    assert merged["verify"] == "/etc/otlp/ca.pem"
    # Everything else still comes from the environment.
    assert merged["proxies"].get("https") == "http://proxy.example:3128"
    # A per-request choice still wins.
    assert session.merge_environment_settings(URL, {}, None, False, None)["verify"] is False


@pytest.mark.parametrize(
    ("exporter", "environ"),
    [
        (HttpMetricExporter, {"OTEL_EXPORTER_OTLP_CERTIFICATE": "/ca.pem"}),
        (HttpMetricExporter, {"OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE": "/ca.pem"}),
        (HttpSpanExporter, {"OTEL_EXPORTER_OTLP_CERTIFICATE": "/ca.pem"}),
        (HttpSpanExporter, {"OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE": "/ca.pem"}),
    ],
)
def test_http_exporters_with_a_ca_get_a_pinned_session(
    exporter: type, environ: dict[str, str]
) -> None:
    options = exporter_options(exporter, environ)
    assert isinstance(options["session"], CertificatePinnedSession)


@pytest.mark.parametrize(
    ("exporter", "environ"),
    [
        # No CA given: requests' usual trust store (and its variables) apply.
        (HttpMetricExporter, {}),
        (HttpMetricExporter, {"OTEL_EXPORTER_OTLP_CERTIFICATE": ""}),
        # The other signal's CA is not this exporter's.
        (HttpMetricExporter, {"OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE": "/ca.pem"}),
        (HttpSpanExporter, {"OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE": "/ca.pem"}),
        # gRPC reads the CA file itself.
        (GrpcMetricExporter, {"OTEL_EXPORTER_OTLP_CERTIFICATE": "/ca.pem"}),
        (GrpcSpanExporter, {"OTEL_EXPORTER_OTLP_CERTIFICATE": "/ca.pem"}),
        # A credential provider's session is the user's own.
        (
            HttpMetricExporter,
            {
                "OTEL_EXPORTER_OTLP_CERTIFICATE": "/ca.pem",
                "OTEL_PYTHON_EXPORTER_OTLP_HTTP_CREDENTIAL_PROVIDER": "mine",
            },
        ),
        (
            HttpSpanExporter,
            {
                "OTEL_EXPORTER_OTLP_CERTIFICATE": "/ca.pem",
                "OTEL_PYTHON_EXPORTER_OTLP_HTTP_TRACES_CREDENTIAL_PROVIDER": "mine",
            },
        ),
    ],
)
def test_other_exporters_are_built_as_the_sdk_builds_them(
    exporter: type, environ: dict[str, str]
) -> None:
    assert exporter_options(exporter, environ) == {}


def test_the_sdk_exporter_uses_the_session_it_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK sets ``verify`` on the session passed in: the pin applies to the real export."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_CERTIFICATE", "/etc/otlp/ca.pem")
    session = CertificatePinnedSession()
    HttpMetricExporter(session=session)
    assert session.verify == "/etc/otlp/ca.pem"
