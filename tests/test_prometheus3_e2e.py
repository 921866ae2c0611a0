"""End to end without a Collector: a service under azora-otel-instrument pushes OTLP
straight into Prometheus 3 (alerts/prometheus-otlp.yml, ``--web.enable-otlp-receiver``).

Everything is real: the orders service (tests/apps/stack_app.py) on a real PostgreSQL,
uvicorn, Prometheus 3 built from its Go module (scripts/build-prometheus.sh), Debian's
Alertmanager and a webhook receiver. Each test has its own service name (``job``).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import stack
import stack_otlp
import yaml
from stack_builds import promtool3_binary

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

CONTRACT = {
    "http_request_duration_ms_bucket",
    "http_request_duration_ms_count",
    "http_request_duration_ms_sum",
    "http_requests_total",
    "http_error_rate",
    "slow_requests_total",
    "db_query_duration_ms_bucket",
    "db_query_duration_ms_count",
    "db_query_duration_ms_sum",
    "db_queries_total",
    "slow_queries_total",
}
SIX_ALERTS = {
    "HighAPILatency",
    "CriticalAPILatency",
    "SlowDatabaseQueries",
    "CriticalDatabaseQueries",
    "HighErrorRate",
    "CriticalErrorRate",
}


def shortened_rules(directory: Path) -> Path:
    """alerts/alert-rules.yml with every ``for:`` at 1s: same expressions, no minutes of wait."""
    rules = yaml.safe_load(stack_otlp.ALERT_RULES.read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = "1s"
    path = directory / "alert-rules-1s.yml"
    path.write_text(yaml.safe_dump(rules, sort_keys=False))
    return path


@dataclass
class Prom3Stack:
    prometheus: stack.Prometheus
    webhook: stack.WebhookReceiver
    database_url: str
    work_dir: Path

    def service_env(self) -> dict[str, str]:
        """The service's environment as docs/stack.md gives it (metrics-only mode)."""
        return {
            "OTEL_METRICS_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": stack_otlp.otlp_metrics_url(self.prometheus),
            "OTEL_TRACES_EXPORTER": "none",
        }


@pytest.fixture(scope="module")
def prom3(tmp_path_factory: pytest.TempPathFactory, postgres_url: Any) -> Iterator[Prom3Stack]:
    work = tmp_path_factory.mktemp("prom3")
    with (
        stack.run_webhook_receiver() as webhook,
        stack.run_alertmanager(work / "alertmanager", webhook.url) as alertmanager,
        stack_otlp.run_prometheus3(
            work / "prometheus",
            rule_files=[shortened_rules(work)],
            alertmanager=alertmanager.address,
        ) as prometheus,
    ):
        yield Prom3Stack(prometheus, webhook, postgres_url("psycopg"), work)


def get(client: httpx.Client, path: str, status: int) -> None:
    response = client.get(path)
    assert response.status_code == status, (path, response.status_code, response.text)


def names_of(prometheus: stack.Prometheus, job: str) -> set[str]:
    """The names of the series the service sent (recording rules' outputs left out)."""
    series = prometheus.query(f'{{job="{job}", __name__!~".*:.*"}}')
    return {r["metric"]["__name__"] for r in series}


# -- the shipped config ------------------------------------------------------------


def test_shipped_otlp_config_loads_the_rules_and_promtool_counts_them(tmp_path: Path) -> None:
    """Copied with alert-rules.yml next to it, as docs/stack.md says: every rule is loaded."""
    copy_dir = tmp_path / "etc"
    copy_dir.mkdir()
    config = copy_dir / "prometheus-otlp.yml"
    config.write_text(stack_otlp.PROMETHEUS_OTLP_CONFIG.read_text())
    (copy_dir / "alert-rules.yml").write_text(stack_otlp.ALERT_RULES.read_text())
    check = subprocess.run(
        [str(promtool3_binary()), "check", "config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    rule_count = sum(
        len(g["rules"]) for g in yaml.safe_load(stack_otlp.ALERT_RULES.read_text())["groups"]
    )
    assert f"SUCCESS: {rule_count} rules found" in check.stdout + check.stderr

    # run_prometheus writes the config into its work dir: the rules go next to it.
    work = tmp_path / "prometheus"
    work.mkdir()
    (work / "alert-rules.yml").write_text(stack_otlp.ALERT_RULES.read_text())
    with stack_otlp.run_prometheus3(work, config=yaml.safe_load(config.read_text())) as prometheus:
        rules = stack_otlp.loaded_rules(prometheus.url)
    assert set(rules) == {"azora-otel.recording", "azora-otel.alerts", "azora-otel.slo"}
    assert set(rules["azora-otel.alerts"]) == SIX_ALERTS
    assert sum(map(len, rules.values())) == rule_count


def test_shipped_otlp_config_without_its_rules_fails_promtool(tmp_path: Path) -> None:
    """The trap of a relative glob: a copy without the rules must not pass the check."""
    config = tmp_path / "prometheus-otlp.yml"
    config.write_text(stack_otlp.PROMETHEUS_OTLP_CONFIG.read_text())
    check = subprocess.run(
        [str(promtool3_binary()), "check", "config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert check.returncode != 0, check.stdout + check.stderr
    assert "alert-rules.yml" in check.stdout + check.stderr


# -- names and counts ---------------------------------------------------------------


def test_otlp_into_prometheus3_keeps_the_contract_names_and_exact_counts(
    prom3: Prom3Stack,
) -> None:
    job = "orders-otlp-names"
    # One report waits 600 ms in the database: a slow request and a slow query (the
    # thresholds are high enough that nothing else is slow, even on a busy machine).
    env = {**prom3.service_env(), "PERF_API_LATENCY_MS": "500", "PERF_DB_QUERY_MS": "500"}
    with stack_otlp.run_service(prom3.work_dir / job, job, prom3.database_url, env) as service:
        with httpx.Client(base_url=service.url, timeout=30) as client:
            for order_id in (1, 2, 3, 4):
                get(client, f"/api/orders/{order_id}", 200)
            for _ in range(3):
                get(client, "/api/checkout", 503)
            get(client, "/api/reports/north?delay_ms=600", 200)
        stack.wait_for_promql(prom3.prometheus.url, f'sum(http_requests_total{{job="{job}"}})', 8)
        stack.wait_for(
            lambda: names_of(prom3.prometheus, job) >= CONTRACT,
            30,
            "every contract series of the service",
        )
    prometheus = prom3.prometheus
    names = names_of(prometheus, job)
    assert names == CONTRACT | {"target_info"}, names - CONTRACT
    by_route = {
        (r["metric"]["method"], r["metric"]["route"], r["metric"]["status_code"]): float(
            r["value"][1]
        )
        for r in prometheus.query(f'http_requests_total{{job="{job}"}}')
    }
    assert by_route == {
        ("GET", "/api/orders/{order_id}", "200"): 4,
        ("GET", "/api/checkout", "503"): 3,
        ("GET", "/api/reports/{region}", "200"): 1,
    }
    count = stack.promql_scalar(
        prometheus.url, f'sum(http_request_duration_ms_count{{job="{job}"}})'
    )
    assert count == 8
    buckets = {
        r["metric"]["le"]
        for r in prometheus.query(f'http_request_duration_ms_bucket{{job="{job}"}}')
    }
    assert buckets == {"10", "50", "100", "200", "500", "1000", "2000", "5000", "+Inf"}
    db_buckets = {
        r["metric"]["le"] for r in prometheus.query(f'db_query_duration_ms_bucket{{job="{job}"}}')
    }
    assert db_buckets == {"5", "10", "25", "50", "100", "250", "500", "1000", "+Inf"}
    # one instance label per process, no otel_scope_* labels, the gauge keeps its name
    series = prometheus.query(f'{{job="{job}", __name__!~"target_info|.*:.*"}}')
    assert {r["metric"]["instance"] for r in series} != {""}
    assert len({r["metric"]["instance"] for r in series}) == 1
    assert not [r for r in series if any(k.startswith("otel_scope") for k in r["metric"])]
    (rate,) = prometheus.query(f'http_error_rate{{job="{job}"}}')
    assert rate["metric"]["service"] == job
    assert float(rate["value"][1]) == pytest.approx(3 / 8)
    selects = stack.promql_scalar(
        prometheus.url,
        f'sum(db_queries_total{{job="{job}", operation="select", model="stack_orders"}})',
    )
    assert selects == 5  # four order lookups and the report's count
    slow = f'slow_requests_total{{job="{job}", route="/api/reports/{{region}}"}}'
    assert stack.promql_scalar(prometheus.url, slow) == 1
    slow_sleep = f'slow_queries_total{{job="{job}", operation="select", model="unknown"}}'
    assert stack.promql_scalar(prometheus.url, slow_sleep) == 1  # select pg_sleep(...)


# -- the six alerts and the dashboard ---------------------------------------------------


def test_six_alerts_fire_and_the_dashboard_has_data(prom3: Prom3Stack) -> None:
    job = "orders-otlp-alerts"
    env = {**prom3.service_env(), "PERF_API_LATENCY_MS": "200", "PERF_DB_QUERY_MS": "100"}
    with stack_otlp.run_service(prom3.work_dir / job, job, prom3.database_url, env) as service:
        with httpx.Client(base_url=service.url, timeout=30) as client:
            # Waves a little apart: rate() needs the counters to grow between samples.
            for _ in range(6):
                get(client, "/api/reports/south?delay_ms=300", 200)
                get(client, "/api/checkout", 503)
                get(client, "/api/orders/1", 200)
                time.sleep(1.5)
        stack.say("waiting for the six alerts at the webhook")
        fired = {}
        for name in sorted(SIX_ALERTS):
            alert = prom3.webhook.wait_for_alert(name, timeout=120)
            fired[name] = alert
        assert {a["labels"]["job"] for a in fired.values()} == {job}
        assert {a["labels"]["severity"] for a in fired.values()} == {"warning", "critical"}

        from test_stack_e2e import dashboard_queries

        empty = [
            (title, query)
            for title, query in dashboard_queries(job)
            if not prom3.prometheus.query(query)
        ]
        assert empty == []
