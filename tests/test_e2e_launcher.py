"""A real service under ``azora-otel-instrument``, scraped over HTTP: the exposition exactly."""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from _client import families
from stack import ManagedProcess, free_port, json_objects, start_process, wait_until_ready

pytestmark = pytest.mark.e2e

APPS = Path(__file__).parent / "apps"
LAUNCHER = str(Path(sys.executable).parent / "azora-otel-instrument")
HTTP_BUCKETS = ["10", "50", "100", "200", "500", "1000", "2000", "5000", "+Inf"]
SLOW_MS = 1000
"""The services' slow-request threshold: far above any ordinary request on a loaded
machine; ``/slow?ms=1100`` sleeps past it."""


def send(base: str, method: str, path: str) -> int:
    request = urllib.request.Request(base + path, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


class Service:
    def __init__(self, process: ManagedProcess, base: str) -> None:
        self.process = process
        self.base = base

    def scrape(self) -> str:
        with urllib.request.urlopen(self.base + "/metrics", timeout=10) as response:
            return response.read().decode()

    def scrape_counted(self, total: int, timeout: float = 60.0) -> str:
        """Scrape until ``total`` requests are counted: each is recorded on the server's
        side after its last byte went out, and a scrape can overtake that."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.scrape()
            family = families(text).get("http_requests")
            counted = sum(
                s.value for s in (family.samples if family else ()) if s.name.endswith("_total")
            )
            if counted >= total or time.monotonic() > deadline:
                return text
            time.sleep(0.1)

    def log(self) -> str:
        return self.process.log_path.read_text(errors="replace")


def start(tmp_path: Path, command: list[str], env: dict[str, str], port: int) -> Service:
    env = {"PYTHONPATH": str(APPS), "PERF_API_LATENCY_MS": str(SLOW_MS), **env}
    process = start_process("service", [LAUNCHER, *command], tmp_path, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(process, base + "/metrics", timeout=60)  # scrapes are not counted
    except Exception:
        process.stop()
        raise
    return Service(process, base)


@pytest.fixture
def uvicorn_service(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Service]:
    env: dict[str, str] = getattr(request, "param", {})
    port = free_port()
    service = start(
        tmp_path,
        [
            sys.executable,
            "-m",
            "uvicorn",
            "http_app:app",
            "--port",
            str(port),
            "--app-dir",
            str(APPS),
        ],
        {"OTEL_SERVICE_NAME": "e2e", **env},
        port,
    )
    yield service
    service.process.stop()


TRAFFIC = (
    [("GET", f"/orders/{i}") for i in range(20)]
    + [("POST", "/orders")] * 5
    + [("GET", f"/slow?ms={SLOW_MS + 100}")] * 2
    + [("GET", "/slow?ms=1")]
    + [("GET", "/fail")] * 3
    + [("GET", "/teapot")]
    + [("GET", f"/scan/{i}/wp-admin.php") for i in range(7)]
    + [("DELETE", "/health"), ("BREW", "/orders/1"), ("M" * 300, "/orders/1")]
)


def expected_counts() -> Counter[tuple[str, str, str]]:
    """What the traffic above must produce, worked out from the app by hand."""
    return Counter(
        {
            ("GET", "/orders/{order_id}", "200"): 20,
            ("POST", "/orders", "201"): 5,
            ("GET", "/slow", "200"): 3,
            ("GET", "/fail", "500"): 3,
            ("GET", "/teapot", "418"): 1,
            ("GET", "unmatched", "404"): 7,
            ("DELETE", "/health", "405"): 1,
            ("_OTHER", "/orders/{order_id}", "405"): 2,
        }
    )


def check_exposition(text: str, expected: Counter[tuple[str, str, str]], service: str) -> None:
    found = families(text)
    assert set(found) == {
        "http_request_duration_ms",
        "http_requests",
        "http_error_rate",
        "slow_requests",
    }
    requests = {
        (s.labels["method"], s.labels["route"], s.labels["status_code"]): s.value
        for s in found["http_requests"].samples
        if s.name == "http_requests_total"
    }
    assert requests == {key: float(n) for key, n in expected.items()}
    histogram = found["http_request_duration_ms"]
    assert histogram.type == "histogram"
    les: dict[tuple[str, ...], list[str]] = {}
    for sample in histogram.samples:
        labels = dict(sample.labels)
        le = labels.pop("le", None)
        assert set(labels) == {"method", "route", "status_code"}
        if sample.name == "http_request_duration_ms_bucket":
            les.setdefault(tuple(labels.values()), []).append(le)  # type: ignore[arg-type]
        if sample.name == "http_request_duration_ms_count":
            key = (labels["method"], labels["route"], labels["status_code"])
            assert sample.value == expected[key]
    assert les
    assert all(v == HTTP_BUCKETS for v in les.values())
    slow = {
        (s.labels["method"], s.labels["route"]): s.value
        for s in found["slow_requests"].samples
        if s.name == "slow_requests_total"
    }
    assert slow == {("GET", "/slow"): 2.0}
    (rate,) = found["http_error_rate"].samples
    assert rate.labels == {"service": service}
    assert rate.value == pytest.approx(3 / sum(expected.values()))


def drive(base: str) -> None:
    for method, path in TRAFFIC:
        send(base, method, path)


def test_uvicorn_service_exposes_the_contract_exactly(uvicorn_service: Service) -> None:
    for _ in range(3):
        uvicorn_service.scrape()  # scrapes are not traffic
    drive(uvicorn_service.base)
    check_exposition(uvicorn_service.scrape_counted(len(TRAFFIC)), expected_counts(), "e2e")
    log = uvicorn_service.log()
    assert log.count("event=slow_request") == 2
    assert "route=/slow" in log
    assert log.count("event=error_rate_exceeded") == 1


def test_python_app_py_form(tmp_path: Path) -> None:
    port = free_port()
    service = start(
        tmp_path,
        [sys.executable, str(APPS / "http_app.py")],
        {"PORT": str(port), "OTEL_SERVICE_NAME": "script", "AZORA_LOG_FORMAT": "json"},
        port,
    )
    try:
        drive(service.base)
        check_exposition(service.scrape_counted(len(TRAFFIC)), expected_counts(), "script")
    finally:
        service.process.stop()
    events = [json.loads(line) for line in service.log().splitlines() if line.startswith("{")]
    slow = [e for e in events if e.get("event") == "slow_request"]
    assert len(slow) == 2
    assert {e["route"] for e in slow} == {"/slow"}
    assert all(e["threshold_ms"] == SLOW_MS for e in slow)


@pytest.mark.parametrize(
    "uvicorn_service",
    [
        {"OTEL_TRACES_EXPORTER": "console", "OTEL_TRACES_SAMPLER": "always_off"},
        {
            "OTEL_TRACES_EXPORTER": "console",
            "OTEL_TRACES_SAMPLER": "traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": "0.01",
        },
    ],
    indirect=True,
    ids=["always_off", "ratio_1pct"],
)
def test_counts_are_complete_with_sampling_off(uvicorn_service: Service) -> None:
    drive(uvicorn_service.base)
    check_exposition(uvicorn_service.scrape_counted(len(TRAFFIC)), expected_counts(), "e2e")


@pytest.mark.parametrize(
    "uvicorn_service", [{"OTEL_TRACES_EXPORTER": "console"}], indirect=True, ids=["console"]
)
def test_one_server_span_per_request(uvicorn_service: Service) -> None:
    for i in range(5):
        send(uvicorn_service.base, "GET", f"/orders/{i}")
    uvicorn_service.scrape_counted(5)
    uvicorn_service.process.stop()  # flushes the batch processor
    log = uvicorn_service.log()
    names = [
        json.loads(block)["name"]
        for block in json_objects(log)
        if '"span_id"' in block and '"kind"' in block
    ]
    assert names.count("GET /orders/{order_id}") == 5
    assert not [n for n in names if "http send" in n or "http receive" in n]
    assert not [n for n in names if "/metrics" in n or n == "GET"]
    assert log.count("event=slow_request") == 0


def test_metrics_only_mode_has_no_tracer_provider(tmp_path: Path) -> None:
    code = (
        "from opentelemetry import trace; from azora_otel import _state;"
        "print(type(trace.get_tracer_provider()).__name__, _state.get_or_rebuild().tracer_provider)"
    )
    import subprocess

    result = subprocess.run(
        [LAUNCHER, sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**dict(__import__("os").environ), "OTEL_TRACES_EXPORTER": "none"},
    )
    assert result.stdout.strip().splitlines()[-1] == "ProxyTracerProvider None"


def test_several_workers_are_warned_that_metrics_is_one_workers_view(tmp_path: Path) -> None:
    port = free_port()
    service = start(
        tmp_path,
        [
            sys.executable,
            "-m",
            "uvicorn",
            "http_app:app",
            "--port",
            str(port),
            "--workers",
            "2",
            "--app-dir",
            str(APPS),
        ],
        {},
        port,
    )
    try:
        for i in range(20):
            send(service.base, "GET", f"/orders/{i}")
        # each worker builds its stack (and warns) when it serves its first request or
        # lifespan; give both a chance
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and service.log().count("event=multiple_workers") < 2:
            time.sleep(0.2)
    finally:
        service.process.stop()
    assert service.log().count("event=multiple_workers") == 2


def test_single_process_is_not_warned(uvicorn_service: Service) -> None:
    send(uvicorn_service.base, "GET", "/orders/1")
    assert "multiple_workers" not in uvicorn_service.log()
