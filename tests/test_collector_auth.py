"""Who may write to the Collector: collector/auth.yaml on the real otelcol-azora.

- a writer without the token, or with a wrong one, gets HTTP 401 / gRPC
  UNAUTHENTICATED, writes nothing, and the Collector's own metrics count each refusal;
- a service under azora-otel-instrument (real uvicorn) with the token gets exact counts
  into the Collector's Prometheus exporter, over gRPC and over HTTP; without it, or with
  a wrong one, its exports are refused and counted while it answers every request and
  keeps exact counts on its own /metrics, with its exporter errors rate-limited;
- the token is in no log (service, Collector) and in no span;
- the token file is re-read when it changes, and a missing one refuses every write.

Validation of every overlay combination: test_collector_overlays.py.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from _secure_stack import (
    AUTH_OVERLAY,
    drive,
    exporter_log_lines,
    grpc_calls,
    harness,
    http_responses,
    new_token,
    otlp_env,
    own_count,
    refusals,
    run_collector,
    stack,
    token_header,
    wait_for_count,
    write_token_file,
)
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricExportResult
from opentelemetry.sdk.resources import Resource

pytestmark = pytest.mark.e2e

# -- refusals, counted exactly ------------------------------------------------------


@pytest.fixture(scope="module")
def token() -> str:
    return new_token()


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory, token: str) -> Iterator[stack.Collector]:
    """One Collector with auth.yaml, the token in a file, shared by this module's tests."""
    work = tmp_path_factory.mktemp("collector-auth")
    token_file = write_token_file(work / "otlp.token", token)
    spans = work / "spans-to-log.yaml"
    # Spans go to the log in full, so the test can look for the token in them.
    spans.write_text(
        "exporters:\n  debug:\n    verbosity: detailed\n"
        "service:\n  pipelines:\n    traces:\n      exporters: [debug]\n"
    )
    env = {"AZORA_OTLP_TOKEN_FILE": str(token_file)}
    with run_collector(work / "collector", [AUTH_OVERLAY, spans], env) as collector:
        yield collector


def post_metrics(collector: stack.Collector, authorization: str | None) -> int:
    request = urllib.request.Request(
        f"{collector.otlp_http_url}/v1/metrics",
        data=b"",
        headers={"Content-Type": "application/x-protobuf"},
        method="POST",
    )
    if authorization is not None:
        request.add_header("Authorization", authorization)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def test_http_writes_without_the_token_are_refused_and_counted(
    guarded: stack.Collector, token: str
) -> None:
    before = http_responses(guarded, "401")
    bad = [None, "", "Bearer", "Bearer ", f"Bearer {token}x", f"Basic {token}", token, "Bearer x"]
    assert [post_metrics(guarded, value) for value in bad] == [401] * len(bad)
    wait_for_count(lambda: http_responses(guarded, "401") - before, len(bad), "counted 401s")
    assert post_metrics(guarded, f"Bearer {token}") == 200


def metrics_data() -> object:
    reader = InMemoryMetricReader()
    provider = MeterProvider(
        resource=Resource.create({"service.name": "intruder"}), metric_readers=[reader]
    )
    provider.get_meter("intruder").create_counter("http_requests_total").add(1, {"route": "/x"})
    data = reader.get_metrics_data()
    provider.shutdown()
    return data


@pytest.mark.parametrize("headers", [None, {"authorization": "Bearer wrong"}])
def test_grpc_writes_without_the_token_are_refused_and_counted(
    guarded: stack.Collector, headers: dict[str, str] | None
) -> None:
    before = grpc_calls(guarded, "UNAUTHENTICATED")
    exporter = OTLPMetricExporter(
        endpoint=guarded.otlp_grpc_url, insecure=True, headers=headers, timeout=10
    )
    try:
        results = [exporter.export(metrics_data()) for _ in range(3)]  # type: ignore[arg-type]
    finally:
        exporter.shutdown()
    assert results == [MetricExportResult.FAILURE] * 3
    wait_for_count(
        lambda: grpc_calls(guarded, "UNAUTHENTICATED") - before, 3, "counted UNAUTHENTICATED"
    )
    assert 'job="intruder"' not in guarded.scrape()


# -- a real service -------------------------------------------------------------------

PROTOCOLS = ["grpc", "http/protobuf"]


def endpoint(collector: stack.Collector, protocol: str) -> str:
    return collector.otlp_grpc_url if protocol == "grpc" else collector.otlp_http_url


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_service_with_the_token_gets_exact_counts_and_leaks_it_nowhere(
    tmp_path: Path, guarded: stack.Collector, token: str, protocol: str
) -> None:
    name = f"authorized-{protocol.replace('/', '-')}"
    port = stack.free_port()
    env = {
        **otlp_env(endpoint(guarded, protocol), protocol, token_header(token)),
        "OTEL_TRACES_EXPORTER": "otlp",
    }
    service = harness.start_service(tmp_path, harness.uvicorn_command(port), port, env, name=name)
    try:
        drive(port, 60)
        harness.wait_for_collector_total(guarded, name, 60, timeout=60)
        # The spans reached the Collector's log (debug exporter, detailed) ...
        stack.wait_for(
            lambda: f"service.name: Str({name})" in guarded.process.log_path.read_text(),
            30,
            f"{name}'s spans in the Collector's log",
        )
    finally:
        service.stop()
    # ... and neither they, the Collector nor the service ever show the token.
    assert "/items/{item_id}" in guarded.process.log_path.read_text()
    assert token not in guarded.process.log_path.read_text()
    assert token not in service.log()
    assert exporter_log_lines(service.log()) == []


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_services_without_the_token_are_refused_counted_and_unaffected(
    tmp_path: Path, guarded: stack.Collector, token: str, protocol: str
) -> None:
    """Two services at once: one sends no token, one a wrong token."""
    wrong = new_token()
    cases = {"missing": None, "wrong": token_header(wrong)}
    before = refusals(guarded)[protocol]
    services: dict[str, harness.Service] = {}
    try:
        for case, headers in cases.items():
            name = f"refused-{case}-{protocol.replace('/', '-')}"
            port = stack.free_port()
            env = otlp_env(endpoint(guarded, protocol), protocol, headers)
            command = harness.uvicorn_command(port)
            services[name] = harness.start_service(tmp_path, command, port, env, name=name)
        sent = 0
        for _ in range(6):  # about 6 s of traffic: a dozen export attempts each, at 500 ms
            for service in services.values():
                drive(service.port, 40)
            sent += 40
            time.sleep(1)  # lets export attempts happen between the batches
        # Each service answered everything and counted everything itself.
        assert {name: own_count(s) for name, s in services.items()} == dict.fromkeys(services, sent)
        stack.wait_for(lambda: refusals(guarded)[protocol] - before >= 10, 30, "refusals counted")
        assert all(service.process.running() for service in services.values())
    finally:
        for service in services.values():
            service.stop()
    stack.say(f"{protocol}: {refusals(guarded)[protocol] - before} refusals counted")
    scraped = guarded.scrape()
    for name, service in services.items():
        assert f'job="{name}"' not in scraped
        lines = exporter_log_lines(service.log())
        stack.say(f"{name}: {len(lines)} exporter log line(s): {lines}")
        assert lines, "the refusal was not logged at all"
        assert len(lines) <= 3, "\n".join(lines)  # once a minute per kind of message
        assert token not in service.log()
        assert wrong not in service.log()


# -- the token file -------------------------------------------------------------------


def accepted(collector: stack.Collector, *tokens: str) -> dict[str, bool]:
    return {token: post_metrics(collector, f"Bearer {token}") == 200 for token in tokens}


def test_token_file_is_rotated_without_a_restart(tmp_path: Path) -> None:
    """Add the new token, move the writers, drop the old one: no restart, no refused write.

    The second change replaces the file by a rename, as secret managers and Kubernetes do.
    """
    old, new = new_token(), new_token()
    token_file = write_token_file(tmp_path / "otlp.token", old)
    env = {"AZORA_OTLP_TOKEN_FILE": str(token_file)}
    with run_collector(tmp_path / "collector", [AUTH_OVERLAY], env) as collector:
        assert accepted(collector, old, new) == {old: True, new: False}
        write_token_file(token_file, old, new)
        stack.wait_for(
            lambda: accepted(collector, old, new) == {old: True, new: True}, 30, "both tokens"
        )
        replacement = write_token_file(tmp_path / "otlp.token.next", new)
        replacement.replace(token_file)
        stack.wait_for(
            lambda: accepted(collector, old, new) == {old: False, new: True}, 30, "only the new"
        )
        assert collector.process.running()
    log = collector.process.log_path.read_text()
    assert old not in log
    assert new not in log


def test_unreadable_token_file_refuses_every_write(tmp_path: Path) -> None:
    """Fail closed: a token file that is not there lets nobody in, not everybody."""
    env = {"AZORA_OTLP_TOKEN_FILE": str(tmp_path / "not-mounted-yet")}
    with run_collector(tmp_path / "collector", [AUTH_OVERLAY], env) as collector:
        assert [post_metrics(collector, value) for value in (None, "Bearer ", "Bearer x")] == [
            401,
            401,
            401,
        ]
    assert "failed to start token resolver" in collector.process.log_path.read_text()
