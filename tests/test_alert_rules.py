"""The rendered Prometheus rules: the seed's six alerts, recording rules, SLO burn rates.

promtool is required: a missing binary fails these tests (tests/stack.py names the fix).
The promtool checks run on both Prometheus lines the stack supports: Debian's 2.42 and
3.x built from its Go module (tests/stack_builds.py).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from stack import promtool_binary
from stack_builds import promtool3_binary

from azora_otel._ops.cli import main
from azora_otel._ops.targets import DEFAULT_TARGETS

REPO = Path(__file__).resolve().parents[1]
RULES = REPO / "alerts" / "alert-rules.yml"
UNIT_TESTS = sorted((REPO / "alerts" / "tests").glob("*.yml"))

# The seed's alert table, copied from the seed document.
SEED_ALERTS = {
    "HighAPILatency": (100, "5m", "warning"),
    "CriticalAPILatency": (200, "2m", "critical"),
    "SlowDatabaseQueries": (50, "5m", "warning"),
    "CriticalDatabaseQueries": (100, "2m", "critical"),
    "HighErrorRate": (0.001, "5m", "warning"),
    "CriticalErrorRate": (0.01, "2m", "critical"),
}


PROMTOOLS = [
    pytest.param(promtool_binary, id="promtool-2.42"),
    pytest.param(promtool3_binary, id="promtool-3"),
]


@pytest.fixture(params=PROMTOOLS)
def promtool(request: pytest.FixtureRequest) -> Path:
    binary: Path = request.param()
    return binary


def _promtool(promtool: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(promtool), *args], capture_output=True, text=True, check=False, timeout=300
    )


def _groups() -> dict[str, list[dict]]:
    return {g["name"]: g["rules"] for g in yaml.safe_load(RULES.read_text())["groups"]}


def test_promtool_check_rules(promtool):
    result = _promtool(promtool, "check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_exist_and_pass(promtool):
    names = {p.name for p in UNIT_TESTS}
    assert {"latency.yml", "errors.yml", "slo-page.yml", "slo-ticket.yml"} <= names
    result = _promtool(promtool, "test", "rules", *map(str, UNIT_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(UNIT_TESTS)


def test_unit_tests_fail_against_wrong_thresholds(tmp_path, promtool):
    """The promtool tests pin the thresholds: rules rendered from other budgets fail them."""
    budgets = tmp_path / "budgets.json"
    budgets.write_text(
        '{"api_latency_ms": {"p50": {"target": 50, "warning": 75, "critical": 150},'
        ' "p95": {"target": 102, "warning": 150, "critical": 200},'
        ' "p99": {"target": 200, "warning": 300, "critical": 500}}}'
    )
    assert main(["render", "--out", str(tmp_path), "--targets", str(budgets)]) == 0
    tests_dir = tmp_path / "alerts" / "tests"
    tests_dir.mkdir()
    copy = tests_dir / "latency.yml"
    copy.write_text((REPO / "alerts/tests/latency.yml").read_text())
    result = _promtool(promtool, "test", "rules", str(copy))
    assert result.returncode != 0
    assert "HighAPILatency" in result.stdout + result.stderr


def test_the_six_seed_alerts():
    alerts = {r["alert"]: r for r in _groups()["azora-otel.alerts"]}
    assert set(alerts) == set(SEED_ALERTS)
    for name, (threshold, for_, severity) in SEED_ALERTS.items():
        rule = alerts[name]
        metric, op, value = rule["expr"].rsplit(" ", 2)
        assert op == ">", rule["expr"]
        assert float(value) == threshold, name
        assert rule["for"] == for_, name
        assert rule["labels"]["severity"] == severity, name
        ann = rule["annotations"]
        assert set(ann) == {"summary", "description", "runbook_url"}
        assert "{{ $labels.job }}" in ann["summary"]
        assert "{{ $value | humanize" in ann["description"]
        assert "{{ $labels.job }}" in ann["description"]
        assert ann["runbook_url"].endswith("#troubleshooting")
        assert metric.startswith("job:")


def test_thresholds_follow_the_targets_table():
    t = DEFAULT_TARGETS
    api_p95 = next(r for r in t.api_latency if r.metric == "p95")
    db_p95 = next(r for r in t.db_query if r.metric == "p95")
    expected = {
        "HighAPILatency": api_p95.target,
        "CriticalAPILatency": api_p95.critical,
        "SlowDatabaseQueries": db_p95.target,
        "CriticalDatabaseQueries": db_p95.critical,
        "HighErrorRate": t.error_rate.warning,
        "CriticalErrorRate": t.error_rate.critical,
    }
    assert {a.name: a.threshold for a in t.alerts()} == expected


def test_recording_rules_sum_buckets_per_job_and_le():
    records = {r["record"]: r["expr"] for r in _groups()["azora-otel.recording"]}
    for histogram in ("http_request_duration_ms", "db_query_duration_ms"):
        for q, name in ((0.5, "p50"), (0.95, "p95"), (0.99, "p99")):
            expr = records[f"job:{histogram}:{name}_rate5m"]
            assert expr == (
                f"histogram_quantile({q}, sum by (job, le) (rate({histogram}_bucket[5m])))"
            )
    ratio = records["job:http_request_errors:ratio_rate5m"]
    assert 'status_code=~"5.."' in ratio
    assert "sum by (job)" in ratio


@pytest.mark.parametrize(
    ("alert", "pairs"),
    [
        ("ErrorBudgetFastBurn", [("1h", "5m", "14.4"), ("6h", "30m", "6")]),
        ("ErrorBudgetSlowBurn", [("1d", "2h", "3"), ("3d", "6h", "1")]),
    ],
)
def test_burn_rate_alerts_follow_the_sre_workbook(alert, pairs):
    rules = _groups()["azora-otel.slo"]
    recorded = {r["record"] for r in rules if "record" in r}
    rule = next(r for r in rules if r.get("alert") == alert)
    budget = "0.0001"  # the seed's error-rate target: SLO 99.99 %
    for long, short, factor in pairs:
        for window in (long, short):
            name = f"job:http_request_errors:ratio_rate{window}"
            assert name in recorded or window == "5m"
            assert f"{name} > ({factor} * {budget})" in rule["expr"]
    assert rule["labels"]["action"] == ("page" if alert.endswith("FastBurn") else "ticket")
