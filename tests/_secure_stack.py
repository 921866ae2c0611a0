"""The Collector with its access-control overlays (collector/auth.yaml, collector/tls.yaml),
and what the tests read from it: refusals in its own telemetry, its log.

Shared by test_collector_auth.py and test_collector_tls.py. The services under test are
started with tests/apps/hostile_harness.py (a real uvicorn under azora-otel-instrument).
"""

from __future__ import annotations

import contextlib
import secrets
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS / "apps"))
import hostile_harness as harness  # noqa: E402

stack = harness.stack

AUTH_OVERLAY = stack.COLLECTOR_DIR / "auth.yaml"
TLS_OVERLAY = stack.COLLECTOR_DIR / "tls.yaml"

EXPORT_FAILURE_MARKERS = ("Failed to export", "Transient error", "Exception while")


def new_token() -> str:
    """A token as the docs tell users to make one (hex: nothing to URL-encode)."""
    return secrets.token_hex(24)


def token_header(token: str) -> str:
    """``OTEL_EXPORTER_OTLP_HEADERS`` for ``token``, encoded as the specification says."""
    return f"authorization=Bearer%20{token}"


def write_token_file(path: Path, *tokens: str) -> Path:
    path.write_text("".join(f"{token}  # issued by the test\n" for token in tokens))
    path.chmod(0o600)
    return path


@contextlib.contextmanager
def run_collector(
    log_dir: Path,
    overlays: Sequence[Path],
    env: Mapping[str, str],
    ports: stack.CollectorPorts | None = None,
) -> Iterator[stack.Collector]:
    """The Collector with config.yaml plus ``overlays``, in that order."""
    configs = (stack.COLLECTOR_CONFIG, *overlays)
    with stack.run_collector(log_dir, configs=configs, env=env, ports=ports) as collector:
        yield collector


def telemetry(collector: stack.Collector) -> str:
    """The Collector's own metrics (service::telemetry, 127.0.0.1:<telemetry port>)."""
    url = f"http://{stack.HOST}:{collector.ports.telemetry}/metrics"
    status, body = stack.http_get(url)
    if status != 200:
        raise collector.process.failure(f"{url} answered HTTP {status}")
    return body.decode()


def http_responses(collector: stack.Collector, status: str) -> int:
    """Requests the OTLP/HTTP receiver answered with ``status`` (detailed-level metric)."""
    found = harness.samples(telemetry(collector), "http_server_request_duration_count")
    port = str(collector.ports.otlp_http)
    return int(
        sum(
            value
            for labels, value in found.items()
            if dict(labels).get("http_response_status_code") == status
            and dict(labels).get("server_port") == port
        )
    )


def grpc_calls(collector: stack.Collector, code: str) -> int:
    """Export RPCs the OTLP/gRPC receiver ended with ``code`` (detailed-level metric)."""
    found = harness.samples(telemetry(collector), "rpc_server_call_duration_count")
    return int(
        sum(
            value
            for labels, value in found.items()
            if dict(labels).get("rpc_response_status_code") == code
            and dict(labels).get("rpc_method", "").endswith("Service/Export")
        )
    )


def refusals(collector: stack.Collector) -> dict[str, int]:
    """Refused writes so far, by protocol."""
    return {
        "http/protobuf": http_responses(collector, "401"),
        "grpc": grpc_calls(collector, "UNAUTHENTICATED"),
    }


def wait_for_count(
    read: Callable[[], int], expected: int, what: str, timeout: float = 30.0
) -> None:
    """Poll ``read()`` (an int) until it equals ``expected``; the error shows the last value."""
    last: list[int | None] = [None]

    def reached() -> bool:
        last[0] = read()
        return last[0] == expected

    try:
        stack.wait_for(reached, timeout, f"{what} == {expected}", interval=0.5)
    except stack.StackError as error:
        raise stack.StackError(f"{error}; last value: {last[0]}") from None


def otlp_env(
    endpoint: str, protocol: str, headers: str | None, interval_ms: int = 500
) -> dict[str, str]:
    """The service's exporter settings: metrics both in-process and over OTLP."""
    env = {
        "OTEL_METRICS_EXPORTER": "prometheus,otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
        "OTEL_METRIC_EXPORT_INTERVAL": str(interval_ms),
        "OTEL_EXPORTER_OTLP_TIMEOUT": "5",
    }
    if headers is not None:
        env["OTEL_EXPORTER_OTLP_HEADERS"] = headers
    return env


def drive(port: int, count: int) -> None:
    """``count`` GETs of /items/{id}; every one must be answered 200."""
    requests = [(b"GET", f"/items/{i % 7}".encode(), ()) for i in range(count)]
    results = harness.send_all(port, requests, concurrency=4)
    assert not results.errors, results.errors
    assert results.statuses == {200: count}, results.statuses


def own_count(service: harness.Service) -> int:
    """``http_requests_total`` in the service's own exposition (scrapes are not counted)."""
    return sum(harness.requests_by(service.scrape(), "route").values())


def exporter_log_lines(log: str) -> list[str]:
    return [line for line in log.splitlines() if any(m in line for m in EXPORT_FAILURE_MARKERS)]
