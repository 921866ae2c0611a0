"""End to end: a service under azora-otel-instrument -> Collector -> Prometheus -> Alertmanager.

Everything is real: the example shop service (examples/shop) runs under the
launcher with ``OTEL_METRICS_EXPORTER=otlp`` in its own processes (uvicorn,
uvicorn --workers 4, gunicorn with uvicorn workers), pushes to the
otelcol-azora binary, which Prometheus scrapes every second. Counts are
checked exactly with PromQL. Each test uses its own service name (the `job`
label), so tests sharing the stack do not see each other's requests.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import stack

pytestmark = pytest.mark.e2e

SHOP_DIR = stack.REPO_ROOT / "examples" / "shop"
BIN_DIR = Path(sys.executable).parent

# Requests per route and the status the shop answers with (GET only: the
# SQLite file is shared by the worker processes and must not be written to).
TRAFFIC: dict[str, tuple[str, str, int]] = {
    "/health": ("/health", "200", 5),
    "/orders/7": ("/orders/{order_id}", "404", 4),
    "/payments/3": ("/payments/{payment_id}", "500", 3),
}


def launcher() -> Path:
    found = shutil.which("azora-otel-instrument", path=f"{BIN_DIR}{os.pathsep}{os.environ['PATH']}")
    if not found:
        raise stack.StackError(
            "azora-otel-instrument is not installed in this environment: pip install -e ."
        )
    return Path(found)


def init_shop_db(work_dir: Path) -> str:
    """Create the shop's SQLite file once, before several workers import the app."""
    url = f"sqlite:///{work_dir / 'shop.db'}"
    subprocess.run(
        [sys.executable, "-c", "import app"],
        cwd=SHOP_DIR,
        env={**os.environ, "DATABASE_URL": url},
        check=True,
        timeout=60,
    )
    return url


@dataclass
class Service:
    process: stack.ManagedProcess
    port: int

    @property
    def url(self) -> str:
        return f"http://{stack.HOST}:{self.port}"


def start_service(
    work_dir: Path,
    collector: stack.Collector,
    service_name: str,
    server: Sequence[str],
    *,
    port: int,
    protocol: str = "http/protobuf",
    export_interval_ms: int = 1000,
    extra_env: Mapping[str, str] | None = None,
) -> Service:
    """Run ``server`` (a uvicorn/gunicorn command line) under azora-otel-instrument."""
    work_dir.mkdir(parents=True, exist_ok=True)
    endpoint = collector.otlp_http_url if protocol == "http/protobuf" else collector.otlp_grpc_url
    env = {
        "PATH": f"{BIN_DIR}{os.pathsep}{os.environ['PATH']}",
        "DATABASE_URL": init_shop_db(work_dir),
        "OTEL_SERVICE_NAME": service_name,
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_TRACES_EXPORTER": "none",
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
        "OTEL_METRIC_EXPORT_INTERVAL": str(export_interval_ms),
        **(extra_env or {}),
    }
    args = [str(launcher()), *server]
    stack.say(f"starting {service_name}: {' '.join(server)}")
    process = stack.start_process(service_name, args, work_dir, env=env)
    try:
        stack.wait_for_port(process, port, timeout=60)
    except BaseException:
        process.stop()
        raise
    return Service(process=process, port=port)


def uvicorn_command(port: int, workers: int = 1) -> list[str]:
    command = ["uvicorn", "app:app", "--app-dir", str(SHOP_DIR)]
    command += ["--host", stack.HOST, "--port", str(port), "--no-access-log"]
    if workers > 1:
        command += ["--workers", str(workers)]
    return command


def gunicorn_command(port: int, workers: int) -> list[str]:
    return [
        "gunicorn",
        "app:app",
        "--pythonpath",
        str(SHOP_DIR),
        "-k",
        "uvicorn.workers.UvicornWorker",
        "-w",
        str(workers),
        "-b",
        f"{stack.HOST}:{port}",
        "--graceful-timeout",
        "20",
    ]


def send_traffic(base_url: str) -> int:
    """Send TRAFFIC; check every status; return how many requests were sent.

    One connection per request: uvicorn closes a keep-alive connection after an
    unhandled exception (the 500s), and with several workers new connections
    are spread over the processes.
    """
    sent = 0
    with httpx.Client(base_url=base_url, timeout=10, headers={"Connection": "close"}) as client:
        for path, (_, status, count) in TRAFFIC.items():
            for _ in range(count):
                response = client.get(path)
                assert str(response.status_code) == status, (path, response.status_code)
                sent += 1
    return sent


def expected_by_route() -> dict[tuple[str, str], float]:
    return {(route, status): float(count) for route, status, count in TRAFFIC.values()}


def by_route(prometheus: stack.Prometheus, job: str) -> dict[tuple[str, str], float]:
    result = prometheus.query(f'sum by (route, status_code) (http_requests_total{{job="{job}"}})')
    return {
        (r["metric"]["route"], r["metric"]["status_code"]): float(r["value"][1]) for r in result
    }


def wait_for_total(prometheus: stack.Prometheus, job: str, total: int, timeout: float = 60) -> None:
    stack.say(f"waiting for sum(http_requests_total{{job={job!r}}}) == {total}")
    stack.wait_for_promql(
        prometheus.url, f'sum(http_requests_total{{job="{job}"}})', total, timeout=timeout
    )


# -- the shared stack ---------------------------------------------------------

# The raw counter, not increase(): the service's first export already carries
# all three 500s, and increase() over a series born at its final value is 0.
ALERT_RULES = """\
groups:
  - name: e2e
    rules:
      - alert: E2EServerErrors
        expr: sum by (job) (http_requests_total{job="shop-alert",status_code=~"5.."}) > 0
        for: 2s
        labels:
          severity: critical
        annotations:
          summary: "{{ $labels.job }} answered 5xx"
"""


@dataclass
class Stack:
    collector: stack.Collector
    prometheus: stack.Prometheus
    alertmanager: stack.Alertmanager
    webhook: stack.WebhookReceiver
    work_dir: Path


@pytest.fixture(scope="module")
def e2e_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    work = tmp_path_factory.mktemp("e2e-stack")
    rules = work / "e2e-rules.yml"
    rules.write_text(ALERT_RULES)
    rule_files = [rules]
    # The project's own rules must load against the real metrics, too.
    project_rules = stack.ALERTS_DIR / "alert-rules.yml"
    if project_rules.exists():
        rule_files.append(project_rules)
    with (
        stack.run_webhook_receiver() as webhook,
        stack.run_alertmanager(work / "alertmanager", webhook.url) as alertmanager,
        stack.run_collector(work / "collector") as collector,
        stack.run_prometheus(
            work / "prometheus",
            scrape_targets=[collector.prometheus_target],
            rule_files=rule_files,
            alertmanager=alertmanager.address,
        ) as prometheus,
    ):
        yield Stack(collector, prometheus, alertmanager, webhook, work)


# -- (1) exact counts per route and status --------------------------------------


def test_prometheus_counts_every_request_by_route_and_status(e2e_stack: Stack) -> None:
    port = stack.free_port()
    service = start_service(
        e2e_stack.work_dir / "single",
        e2e_stack.collector,
        "shop-single",
        uvicorn_command(port),
        port=port,
        extra_env={"OTEL_TRACES_EXPORTER": "otlp"},  # traces go to the debug exporter
    )
    try:
        sent = send_traffic(service.url)
        wait_for_total(e2e_stack.prometheus, "shop-single", sent)
        assert by_route(e2e_stack.prometheus, "shop-single") == expected_by_route()
        count = e2e_stack.prometheus.query('sum(http_request_duration_ms_count{job="shop-single"})')
        assert float(count[0]["value"][1]) == sent
        # The 500s are visible to the error-rate gauge and the instance label is set.
        rate = e2e_stack.prometheus.query('http_error_rate{job="shop-single"}')
        assert len(rate) == 1
        assert rate[0]["metric"]["instance"]
        assert float(rate[0]["value"][1]) > 0
        assert "Failed to export" not in service.process.log_tail(200)
    finally:
        service.process.stop()


# -- (2) an alert reaches the webhook -------------------------------------------


def test_alert_fires_and_reaches_the_webhook(e2e_stack: Stack) -> None:
    port = stack.free_port()
    service = start_service(
        e2e_stack.work_dir / "alert",
        e2e_stack.collector,
        "shop-alert",
        uvicorn_command(port),
        port=port,
    )
    try:
        with httpx.Client(
            base_url=service.url, timeout=10, headers={"Connection": "close"}
        ) as client:
            for _ in range(3):
                assert client.get("/payments/1").status_code == 500
        stack.say("waiting for E2EServerErrors at the webhook")
        alert = e2e_stack.webhook.wait_for_alert("E2EServerErrors", timeout=60)
    finally:
        service.process.stop()
    assert alert["labels"]["job"] == "shop-alert"
    assert alert["labels"]["severity"] == "critical"
    assert alert["annotations"]["summary"] == "shop-alert answered 5xx"
    names = {a["labels"]["alertname"] for a in e2e_stack.alertmanager.alerts()}
    assert "E2EServerErrors" in names


# -- (3) several worker processes -------------------------------------------------


@pytest.mark.parametrize(
    ("server", "protocol"),
    [
        pytest.param("uvicorn", "http/protobuf", id="uvicorn-workers-4"),
        pytest.param("gunicorn", "grpc", id="gunicorn-uvicorn-workers-4"),
    ],
)
def test_worker_processes_add_up_exactly(e2e_stack: Stack, server: str, protocol: str) -> None:
    port = stack.free_port()
    job = f"shop-{server}-4"
    command = uvicorn_command(port, workers=4) if server == "uvicorn" else gunicorn_command(port, 4)
    service = start_service(
        e2e_stack.work_dir / job, e2e_stack.collector, job, command, port=port, protocol=protocol
    )
    try:
        time.sleep(2)  # the port opens before every worker has booted
        sent = 0
        for _ in range(5):
            sent += send_traffic(service.url)
        wait_for_total(e2e_stack.prometheus, job, sent)
        expected = {key: value * 5 for key, value in expected_by_route().items()}
        assert by_route(e2e_stack.prometheus, job) == expected
        instances = e2e_stack.prometheus.query(
            f'count(count by (instance) (http_requests_total{{job="{job}"}}))'
        )
        stack.say(f"{job}: {instances[0]['value'][1]} worker instance(s) served {sent} requests")
        assert 1 <= float(instances[0]["value"][1]) <= 4
    finally:
        service.process.stop(timeout=30)


# -- (4) the collector goes away for 30 s under traffic ---------------------------


def test_collector_outage_loses_nothing(tmp_path: Path) -> None:
    ports = stack.CollectorPorts.pick()
    collector = stack.start_collector(tmp_path / "collector", ports=ports)
    with stack.run_prometheus(
        tmp_path / "prometheus", scrape_targets=[collector.prometheus_target]
    ) as prometheus:
        port = stack.free_port()
        service = start_service(
            tmp_path / "service", collector, "shop-outage", uvicorn_command(port), port=port
        )
        statuses: list[int] = []
        slowest = [0.0]
        stop = threading.Event()

        def traffic() -> None:
            with httpx.Client(base_url=service.url, timeout=10) as client:
                while not stop.is_set():
                    started = time.monotonic()
                    statuses.append(client.get("/health").status_code)
                    slowest[0] = max(slowest[0], time.monotonic() - started)
                    time.sleep(0.05)

        sender = threading.Thread(target=traffic, name="traffic")
        try:
            sender.start()
            time.sleep(3)
            stack.say("stopping the collector for 30 s under traffic")
            collector.stop()
            time.sleep(30)
            answered_during_outage = len(statuses)
            collector = stack.start_collector(
                tmp_path / "collector", ports=ports, name="otelcol-azora-restarted"
            )
            stack.say("collector restarted")
            time.sleep(3)
        finally:
            stop.set()
            sender.join(30)
        try:
            assert answered_during_outage > 100
            assert set(statuses) == {200}
            # Far above any normal latency, even on a loaded machine; what it guards
            # against is a request waiting on the exporter (timeouts of several seconds).
            assert slowest[0] < 5.0, f"a request took {slowest[0]:.2f}s during the outage"
            wait_for_total(prometheus, "shop-outage", len(statuses), timeout=60)
        finally:
            service.process.stop()
            collector.stop()


# -- (5) SIGTERM flushes what the last interval recorded ----------------------------


def test_sigterm_flushes_the_last_metrics(e2e_stack: Stack) -> None:
    port = stack.free_port()
    job = "shop-sigterm"
    service = start_service(
        e2e_stack.work_dir / "sigterm",
        e2e_stack.collector,
        job,
        uvicorn_command(port),
        port=port,
        export_interval_ms=3_600_000,  # no periodic export: only the shutdown flush
    )
    sent = send_traffic(service.url)
    assert e2e_stack.prometheus.query(f'http_requests_total{{job="{job}"}}') == []
    code = service.process.stop(timeout=30, sig=signal.SIGTERM)
    # uvicorn >= 0.29 re-raises the signal after its graceful shutdown: -15 is normal.
    assert code in (0, -signal.SIGTERM), service.process.log_tail()
    wait_for_total(e2e_stack.prometheus, job, sent, timeout=30)
    assert by_route(e2e_stack.prometheus, job) == expected_by_route()


# -- the dashboard and the budget check on real traffic ----------------------------


def dashboard_queries(job: str) -> list[tuple[str, str]]:
    """(panel title, PromQL) of every target of the shipped dashboard, for service ``job``."""
    dashboard = json.loads(
        (stack.REPO_ROOT / "dashboards" / "performance-dashboard.json").read_text()
    )
    return [
        (
            panel["title"],
            target["expr"].replace("$service", job).replace("$__rate_interval", "1m"),
        )
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    ]


def test_dashboard_panels_and_budget_check_on_real_traffic(e2e_stack: Stack) -> None:
    """Every panel of the shipped dashboard returns data from Prometheus fed by a real
    service through the Collector, and the budget check reads the same data."""
    job = "shop-dashboard"
    port = stack.free_port()
    service = start_service(
        e2e_stack.work_dir / "dashboard",
        e2e_stack.collector,
        job,
        uvicorn_command(port),
        port=port,
        # every query counts as slow here, so the slow-query panel has data
        extra_env={"PERF_DB_QUERY_MS": "0.001"},
    )
    try:
        # Several waves, so rate() over the counters sees them grow between scrapes.
        with httpx.Client(base_url=service.url, timeout=10, headers={"Connection": "close"}) as c:
            for _ in range(6):
                for path in (
                    "/orders",
                    "/customers/1/orders",
                    "/payments/1",
                    "/reports/daily?delay_ms=120",
                ):
                    c.get(path)
                time.sleep(1.5)
        stack.wait_for(
            lambda: (
                bool(
                    e2e_stack.prometheus.query(
                        f'job:db_query_duration_ms:p95_rate5m{{job="{job}"}}'
                    )
                )
                and bool(
                    e2e_stack.prometheus.query(
                        f'job:http_request_duration_ms:p95_rate5m{{job="{job}"}}'
                    )
                )
            ),
            60,
            "the recording rules on the service's series",
        )
        panels = dashboard_queries(job)
        assert len({title for title, _ in panels}) >= 7
        empty = [(title, query) for title, query in panels if not e2e_stack.prometheus.query(query)]
        assert empty == []

        result = subprocess.run(
            [
                str(BIN_DIR / "azora-otel"),
                "budget",
                "--prometheus",
                e2e_stack.prometheus.url,
                "--job",
                job,
                "--window",
                "1m",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        # 6 of the 24 requests are 500s: the error-rate budget is broken (exit 1);
        # 120 ms requests are a quarter of the traffic: API P95 is over its 100 ms target.
        assert result.returncode == 1, (result.stdout, result.stderr)
        assert "NO DATA" not in result.stdout, result.stdout
        rows = {
            line.split("  ")[1].strip(): line.split()[-1]
            for line in result.stdout.splitlines()[1:]
            if line.strip()
        }
        assert rows["Error rate"] == "CRIT", result.stdout
        assert rows["API latency P95"] in ("WARN", "CRIT"), result.stdout
        assert rows["DB query P95"] == "OK", result.stdout
    finally:
        service.process.stop()
