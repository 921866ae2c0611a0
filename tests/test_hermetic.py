"""``Telemetry.build(Settings.from_env(mapping))`` does what ``mapping`` says, whatever the
process environment holds: every decision the distro makes comes from ``Settings``.

The process environment is filled with values that contradict both mappings (and
some that broke the build when they were read from it); two distros are built from
two different mappings, and each must show its own mapping in what it built. What is
still read from ``os.environ`` is upstream's own business (the exporters' endpoint,
headers and certificates, ``OTEL_BSP_*``, span limits): see ``azora_otel._providers``.
"""

from __future__ import annotations

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpSpanExporter,
)
from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, AlwaysOnExemplarFilter
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from azora_otel import Settings, Telemetry
from azora_otel._otlp_tls import CertificatePinnedSession
from azora_otel._variables import VARIABLES

POLLUTED = {
    "PERF_API_LATENCY_MS": "7",
    "OTEL_SERVICE_NAME": "from-os-environ",
    "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=os,service.instance.id=os-instance",
    "OTEL_EXPERIMENTAL_RESOURCE_DETECTORS": "process",
    "OTEL_METRICS_EXPORTER": "none",
    "OTEL_TRACES_EXPORTER": "console",
    "OTEL_TRACES_SAMPLER": "always_off",
    "OTEL_TRACES_SAMPLER_ARG": "0.5",
    "OTEL_METRICS_EXEMPLAR_FILTER": "trace_based",
    # Read from the process environment, these broke the build: an unknown protocol made
    # the exporter lookup raise, an unknown credential provider the HTTP exporter.
    "OTEL_EXPORTER_OTLP_PROTOCOL": "bogus",
    "OTEL_PYTHON_EXPORTER_OTLP_HTTP_CREDENTIAL_PROVIDER": "not-installed",
    "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9",
}

A = {
    "PERF_API_LATENCY_MS": "250",
    "OTEL_SERVICE_NAME": "orders",
    "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=staging",
    "OTEL_TRACES_EXPORTER": "otlp",
    "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
    "OTEL_TRACES_SAMPLER": "traceidratio",
    "OTEL_TRACES_SAMPLER_ARG": "0.25",
    "OTEL_METRICS_EXEMPLAR_FILTER": "always_off",
    "AZORA_SPAN_ENCODER": "upstream",
}
B = {
    "OTEL_RESOURCE_ATTRIBUTES": "service.name=billing,deployment.environment=prod",
    "OTEL_TRACES_EXPORTER": "otlp",
    "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
    "OTEL_METRICS_EXEMPLAR_FILTER": "always_on",
    "AZORA_SPAN_ENCODER": "upstream",
}


@pytest.fixture
def polluted(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in POLLUTED.items():
        monkeypatch.setenv(name, value)


def _built(mapping: dict[str, str]) -> Telemetry:
    settings = Settings.from_env(mapping)
    assert settings.problems == ()
    return Telemetry.build(settings)


def _exporter(telemetry: Telemetry) -> object:
    assert telemetry.tracer_provider is not None
    processors = telemetry.tracer_provider._active_span_processor._span_processors
    (batch,) = [p for p in processors if isinstance(p, BatchSpanProcessor)]
    return batch.span_exporter


@pytest.mark.usefixtures("polluted")
def test_two_distros_from_two_mappings_each_do_what_their_mapping_says() -> None:
    a, b = _built(A), _built(B)
    try:
        resource_a = dict(a.meter_provider._sdk_config.resource.attributes)
        resource_b = dict(b.meter_provider._sdk_config.resource.attributes)
        assert resource_a["service.name"] == a.settings.service_name == "orders"
        assert resource_b["service.name"] == b.settings.service_name == "billing"
        assert (resource_a["deployment.environment"], resource_b["deployment.environment"]) == (
            "staging",
            "prod",
        )
        for resource in (resource_a, resource_b):
            assert resource["service.instance.id"] != "os-instance"
            assert not any(key.startswith("process.") for key in resource)  # no detector asked
            assert resource["telemetry.distro.name"] == "azora-otel"
        assert a.requests.threshold_ms == 250
        assert b.requests.threshold_ms == 100

        # The sampler and the exemplar filter: the mappings', not the environment's.
        assert a.tracer_provider is not None
        assert b.tracer_provider is not None
        assert a.tracer_provider.sampler.get_description() == "TraceIdRatioBased{0.25}"
        assert b.tracer_provider.sampler.get_description().startswith("ParentBased{root:AlwaysOn")
        assert isinstance(a.meter_provider._sdk_config.exemplar_filter, AlwaysOffExemplarFilter)
        assert isinstance(b.meter_provider._sdk_config.exemplar_filter, AlwaysOnExemplarFilter)

        # ``otlp`` is the protocol the mapping names; the HTTP exporter gets the pinned
        # session although the environment names a credential provider.
        exporter_a, exporter_b = _exporter(a), _exporter(b)
        assert isinstance(exporter_a, HttpSpanExporter)
        assert isinstance(exporter_b, GrpcSpanExporter)
        transport = exporter_a._client._transport  # type: ignore[attr-defined]
        assert isinstance(transport._session, CertificatePinnedSession)

        # The in-process exposition, which the environment turns off.
        assert a.prometheus is not None
        assert b.prometheus is not None
    finally:
        a.shutdown()
        b.shutdown()


@pytest.mark.usefixtures("polluted")
def test_an_empty_mapping_builds_the_defaults_whatever_the_environment() -> None:
    telemetry = Telemetry.build(Settings.from_env({}))
    try:
        assert telemetry.settings == Settings()
        assert telemetry.tracer_provider is None  # the environment's endpoint is not ours
        resource = dict(telemetry.meter_provider._sdk_config.resource.attributes)
        assert resource["service.name"] == "unknown_service"
        assert "deployment.environment" not in resource
        assert isinstance(
            telemetry.meter_provider._sdk_config.exemplar_filter, AlwaysOffExemplarFilter
        )
    finally:
        telemetry.shutdown()


def test_every_variable_the_polluted_environment_sets_is_a_row() -> None:
    """The environment above contradicts variables the distro decides from, not upstream's."""
    assert set(POLLUTED) <= {row.name for row in VARIABLES}


def test_resource_detectors_asked_for_in_the_mapping_run() -> None:
    telemetry = Telemetry.build(
        Settings.from_env({"OTEL_EXPERIMENTAL_RESOURCE_DETECTORS": "process"})
    )
    try:
        resource = dict(telemetry.meter_provider._sdk_config.resource.attributes)
        assert isinstance(resource["process.pid"], int)
    finally:
        telemetry.shutdown()
