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


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"])
def test_pinned_session_without_a_ca_lets_requests_choose(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    """No CA given to the exporter (``verify`` stays ``True``): requests' own trust store
    and its variables apply, exactly as for a plain session."""
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    monkeypatch.setenv(variable, "/etc/ssl/certs/system-bundle.pem")
    pinned, plain = CertificatePinnedSession(), requests.Session()
    merged = pinned.merge_environment_settings(URL, {}, None, None, None)
    assert merged["verify"] == "/etc/ssl/certs/system-bundle.pem"
    assert merged == plain.merge_environment_settings(URL, {}, None, None, None)


@pytest.mark.parametrize("exporter", [HttpMetricExporter, HttpSpanExporter])
def test_http_exporters_get_a_pinned_session(exporter: type) -> None:
    assert isinstance(exporter_options(exporter, ())["session"], CertificatePinnedSession)


@pytest.mark.parametrize(
    ("exporter", "provider_signals"),
    [
        # gRPC reads the CA file itself.
        (GrpcMetricExporter, ()),
        (GrpcSpanExporter, ()),
        # A credential provider's session is the user's own.
        (HttpMetricExporter, frozenset({"metrics"})),
        (HttpSpanExporter, frozenset({"traces", "metrics"})),
    ],
)
def test_other_exporters_are_built_as_the_sdk_builds_them(
    exporter: type, provider_signals: frozenset[str]
) -> None:
    assert exporter_options(exporter, provider_signals) == {}


def test_a_provider_for_the_other_signal_leaves_the_pin() -> None:
    assert "session" in exporter_options(HttpMetricExporter, frozenset({"traces"}))


@pytest.mark.parametrize(
    ("environ", "signals"),
    [
        ({}, set()),
        ({"OTEL_PYTHON_EXPORTER_OTLP_HTTP_CREDENTIAL_PROVIDER": "mine"}, {"traces", "metrics"}),
        ({"OTEL_PYTHON_EXPORTER_OTLP_HTTP_TRACES_CREDENTIAL_PROVIDER": "mine"}, {"traces"}),
        ({"OTEL_PYTHON_EXPORTER_OTLP_HTTP_METRICS_CREDENTIAL_PROVIDER": "mine"}, {"metrics"}),
    ],
)
def test_credential_providers_are_carried_by_settings(
    monkeypatch: pytest.MonkeyPatch, environ: dict[str, str], signals: set[str]
) -> None:
    """A provider the environment names is one upstream will load: the session is left to it
    (``mine`` stands for an installed provider; an unknown name is reported and ignored, so
    the exporter is not broken by it)."""
    from azora_otel import Settings, _kinds

    monkeypatch.setattr(
        _kinds, "entry_point_names", lambda group: frozenset({"mine"}) | _real_names(group)
    )
    assert Settings.from_env(environ).credential_provider_signals == signals
    unknown = {"OTEL_PYTHON_EXPORTER_OTLP_HTTP_CREDENTIAL_PROVIDER": "nothing-installed"}
    settings = Settings.from_env(unknown)
    assert settings.credential_provider_signals == frozenset()
    (problem,) = settings.problems
    assert "no installed OTLP credential provider is called 'nothing-installed'" in problem


def _real_names(group: str) -> frozenset[str]:
    from importlib.metadata import entry_points

    return frozenset(e.name for e in entry_points(group=group))


def test_the_sdk_exporter_uses_the_session_it_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK sets ``verify`` on the session passed in: the pin applies to the real export."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_CERTIFICATE", "/etc/otlp/ca.pem")
    session = CertificatePinnedSession()
    HttpMetricExporter(session=session)
    assert session.verify == "/etc/otlp/ca.pem"
