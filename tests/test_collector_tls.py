"""TLS on the Collector's OTLP receivers (collector/tls.yaml), with a CA made by the test.

CA -> server certificate for 127.0.0.1 (IP SAN) -> otelcol-azora with tls.yaml and
auth.yaml -> a service under azora-otel-instrument (real uvicorn) that trusts the CA
through OTEL_EXPORTER_OTLP_CERTIFICATE exports exact counts, over gRPC and HTTP, even
with REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE pointing at a bundle without that CA. Clients
that trust another CA, or speak plaintext, get nothing through; with
AZORA_OTLP_TLS_CLIENT_CA_FILE only clients with a certificate from that CA do.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import certifi
import pytest
from _secure_stack import (
    AUTH_OVERLAY,
    TLS_OVERLAY,
    drive,
    exporter_log_lines,
    harness,
    new_token,
    otlp_env,
    run_collector,
    stack,
    token_header,
)
from _tls import Pki, make_pki
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
    OTLPMetricExporter as GrpcExporter,
)
from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
    OTLPMetricExporter as HttpExporter,
)
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricExportResult
from opentelemetry.sdk.resources import Resource

from azora_otel._otlp_tls import exporter_options

pytestmark = pytest.mark.e2e

PROTOCOLS = ["grpc", "http/protobuf"]
# A trust store that does not hold the test CA, in every variable that could stand in
# for the CA the service is given.
SYSTEM_BUNDLE = {
    "REQUESTS_CA_BUNDLE": certifi.where(),
    "CURL_CA_BUNDLE": certifi.where(),
    "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH": certifi.where(),
}


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def tls_env(pki: Pki) -> dict[str, str]:
    return {
        "AZORA_OTLP_TLS_CERT_FILE": str(pki.server_cert),
        "AZORA_OTLP_TLS_KEY_FILE": str(pki.server_key),
    }


@pytest.fixture(scope="module")
def token() -> str:
    return new_token()


@pytest.fixture(scope="module")
def secured(
    tmp_path_factory: pytest.TempPathFactory, pki: Pki, token: str
) -> Iterator[stack.Collector]:
    """TLS and the token together: the configuration for a Collector on a network."""
    work = tmp_path_factory.mktemp("collector-tls")
    env = {**tls_env(pki), "AZORA_OTLP_TOKEN": token}
    with run_collector(work, [TLS_OVERLAY, AUTH_OVERLAY], env) as collector:
        yield collector


def https_endpoint(collector: stack.Collector, protocol: str) -> str:
    port = collector.ports.otlp_grpc if protocol == "grpc" else collector.ports.otlp_http
    return f"https://{stack.HOST}:{port}"


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_service_exports_over_tls_trusting_the_given_ca(
    tmp_path: Path, secured: stack.Collector, pki: Pki, token: str, protocol: str
) -> None:
    name = f"tls-{protocol.replace('/', '-')}"
    port = stack.free_port()
    env = {
        **otlp_env(https_endpoint(secured, protocol), protocol, token_header(token)),
        "OTEL_EXPORTER_OTLP_CERTIFICATE": str(pki.ca_cert),
        **SYSTEM_BUNDLE,
    }
    service = harness.start_service(tmp_path, harness.uvicorn_command(port), port, env, name=name)
    try:
        drive(port, 50)
        harness.wait_for_collector_total(secured, name, 50, timeout=60)
        drive(port, 25)
        harness.wait_for_collector_total(secured, name, 75, timeout=60)
    finally:
        service.stop()
    assert exporter_log_lines(service.log()) == []
    assert token not in service.log()


# -- in-process exporters, configured from the environment as a service would be --------


def export_once(
    monkeypatch: pytest.MonkeyPatch, protocol: str, endpoint: str, env: dict[str, str], job: str
) -> MetricExportResult:
    """One export of ``http_requests_total{job}`` = 1 by the SDK exporter the distro builds."""
    for name, value in {**SYSTEM_BUNDLE, **env, "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint}.items():
        monkeypatch.setenv(name, value)
    reader = InMemoryMetricReader()
    resource = Resource.create({"service.name": job})
    provider = MeterProvider(resource=resource, metric_readers=[reader])
    provider.get_meter("tls").create_counter("http_requests_total").add(1, {"route": "/x"})
    data = reader.get_metrics_data()
    provider.shutdown()
    cls = GrpcExporter if protocol == "grpc" else HttpExporter
    exporter = cls(**exporter_options(cls, ()), timeout=3)
    try:
        return exporter.export(data)  # type: ignore[arg-type]
    finally:
        exporter.shutdown()


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_clients_that_do_not_trust_the_ca_get_nothing_through(
    monkeypatch: pytest.MonkeyPatch, secured: stack.Collector, pki: Pki, token: str, protocol: str
) -> None:
    job = f"untrusting-{protocol.replace('/', '-')}"
    headers = {"OTEL_EXPORTER_OTLP_HEADERS": token_header(token)}
    endpoint = https_endpoint(secured, protocol)
    # Trusts another CA: the Collector's certificate does not verify.
    other = {**headers, "OTEL_EXPORTER_OTLP_CERTIFICATE": str(pki.other_ca_cert)}
    assert export_once(monkeypatch, protocol, endpoint, other, job) == MetricExportResult.FAILURE
    # Trusts only the system bundle.
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_CERTIFICATE")
    assert export_once(monkeypatch, protocol, endpoint, headers, job) == MetricExportResult.FAILURE
    # Plaintext to the TLS port.
    plain = endpoint.replace("https://", "http://")
    assert export_once(monkeypatch, protocol, plain, headers, job) == MetricExportResult.FAILURE
    # The same client trusting the right CA gets through (the refusals were about trust).
    right = {**headers, "OTEL_EXPORTER_OTLP_CERTIFICATE": str(pki.ca_cert)}
    assert export_once(monkeypatch, protocol, endpoint, right, job) == MetricExportResult.SUCCESS
    harness.wait_for_collector_total(secured, job, 1, timeout=30)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_mutual_tls_admits_only_clients_with_a_certificate_from_the_client_ca(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, pki: Pki, protocol: str
) -> None:
    env = {**tls_env(pki), "AZORA_OTLP_TLS_CLIENT_CA_FILE": str(pki.ca_cert)}
    with run_collector(tmp_path / "collector", [TLS_OVERLAY], env) as collector:
        endpoint = https_endpoint(collector, protocol)
        trusting = {"OTEL_EXPORTER_OTLP_CERTIFICATE": str(pki.ca_cert)}
        job = f"mtls-{protocol.replace('/', '-')}"
        result = export_once(monkeypatch, protocol, endpoint, trusting, job)
        assert result == MetricExportResult.FAILURE  # no client certificate
        with_cert = {
            **trusting,
            "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": str(pki.client_cert),
            "OTEL_EXPORTER_OTLP_CLIENT_KEY": str(pki.client_key),
        }
        result = export_once(monkeypatch, protocol, endpoint, with_cert, job)
        assert result == MetricExportResult.SUCCESS
        harness.wait_for_collector_total(collector, job, 1, timeout=30)
