"""`azora-otel render`: single source of thresholds, determinism, --check, other budgets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from azora_otel import Settings
from azora_otel._ops import targets as _targets
from azora_otel._ops.budgets_file import load_targets
from azora_otel._ops.cli import main
from azora_otel._ops.render import render_all
from azora_otel._ops.targets import Budget, Targets

REPO = Path(__file__).resolve().parents[1]

# The seed's performance-targets table, copied from the seed document (not from the code).
SEED_API = {"p50": (50, 75, 150), "p95": (100, 150, 200), "p99": (200, 300, 500)}
SEED_DB = {"p50": (10, 25, 50), "p95": (50, 75, 100), "p99": (100, 150, 250)}
SEED_ERROR = (0.0001, 0.001, 0.01)


def _rows(rows: tuple[Budget, ...]) -> dict[str, tuple[float, float, float]]:
    return {r.metric: (r.target, r.warning, r.critical) for r in rows}


def test_targets_table_is_the_seeds():
    assert _rows(_targets.API_LATENCY_TARGETS) == SEED_API
    assert _rows(_targets.DB_QUERY_TARGETS) == SEED_DB
    e = _targets.ERROR_RATE_TARGET
    assert (e.target, e.warning, e.critical) == SEED_ERROR


def test_perf_defaults_are_the_seeds_and_the_tables_alert_thresholds():
    # Seed: PERF_API_LATENCY_MS=100, PERF_DB_QUERY_MS=50, PERF_ERROR_RATE=0.001.
    defaults = Settings()
    assert (defaults.api_latency_ms, defaults.db_query_ms, defaults.error_rate) == (100, 50, 0.001)
    t = _targets.DEFAULT_TARGETS
    assert (t.api_latency_ms, t.db_query_ms, t.error_rate.warning) == (100, 50, 0.001)


def test_repo_files_match_the_budgets(capsys):
    """CI guard: the committed alert rules and dashboard are what `render` produces."""
    code = main(["render", "--check", "--out", str(REPO)])
    out = capsys.readouterr()
    assert code == 0, out.out + out.err


def test_render_is_deterministic_and_check_reports_drift(tmp_path, capsys):
    assert main(["render", "--out", str(tmp_path)]) == 0
    first = {p: (tmp_path / p).read_text() for p in render_all(Targets())}
    assert main(["render", "--out", str(tmp_path)]) == 0
    assert first == {p: (tmp_path / p).read_text() for p in first}
    capsys.readouterr()
    assert main(["render", "--check", "--out", str(tmp_path)]) == 0

    rules = tmp_path / "alerts/alert-rules.yml"
    rules.write_text(rules.read_text().replace("> 200", "> 250"))
    assert main(["render", "--check", "--out", str(tmp_path)]) == 1
    out = capsys.readouterr()
    assert '-        expr: "job:http_request_duration_ms:p95_rate5m > 250"' in out.out
    assert '+        expr: "job:http_request_duration_ms:p95_rate5m > 200"' in out.out
    assert "differ" in out.err
    # --check writes nothing
    assert "> 250" in rules.read_text()


def test_check_reports_missing_files(tmp_path, capsys):
    assert main(["render", "--check", "--out", str(tmp_path)]) == 1
    assert not (tmp_path / "alerts").exists()


def _alerts(rules_text: str) -> dict[str, dict]:
    groups = yaml.safe_load(rules_text)["groups"]
    return {r["alert"]: r for g in groups for r in g["rules"] if "alert" in r}


@pytest.mark.parametrize("suffix", [".json", ".toml"])
def test_other_budgets_from_a_file(tmp_path, suffix):
    budgets = {
        "api_latency_ms": {
            "p50": {"target": 30, "warning": 60, "critical": 90},
            "p95": {"target": 80, "warning": 120, "critical": 400},
            "p99": {"target": 150, "warning": 250, "critical": 600},
        },
        "error_rate": {"target": 0.001, "warning": 0.005, "critical": 0.05},
    }
    path = tmp_path / f"budgets{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps(budgets))
    else:
        path.write_text(
            "[api_latency_ms]\n"
            "p50 = { target = 30, warning = 60, critical = 90 }\n"
            "p95 = { target = 80, warning = 120, critical = 400 }\n"
            "p99 = { target = 150, warning = 250, critical = 600 }\n"
            "[error_rate]\ntarget = 0.001\nwarning = 0.005\ncritical = 0.05\n"
        )
    out = tmp_path / "out"
    assert main(["render", "--out", str(out), "--targets", str(path)]) == 0
    alerts = _alerts((out / "alerts/alert-rules.yml").read_text())
    assert alerts["HighAPILatency"]["expr"].endswith("> 80")
    assert alerts["CriticalAPILatency"]["expr"].endswith("> 400")
    assert alerts["HighErrorRate"]["expr"].endswith("> 0.005")
    assert alerts["CriticalErrorRate"]["expr"].endswith("> 0.05")
    # DB section absent: seed defaults kept
    assert alerts["SlowDatabaseQueries"]["expr"].endswith("> 50")
    assert "(14.4 * 0.001)" in alerts["ErrorBudgetFastBurn"]["expr"]
    dashboard = json.loads((out / "dashboards/performance-dashboard.json").read_text())
    gauge = next(p for p in dashboard["panels"] if p["title"] == "API latency P95")
    steps = [s["value"] for s in gauge["fieldConfig"]["defaults"]["thresholds"]["steps"]]
    assert steps == [None, 80, 400]
    # the check against those files passes only with the same budgets
    assert main(["render", "--check", "--out", str(out), "--targets", str(path)]) == 0
    assert main(["render", "--check", "--out", str(out)]) == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            '{"api_latency_ms": {"p95": {"target": 100, "warning": 50, "critical": 200}}}',
            "target <= warning <= critical",
        ),
        ('{"api_latency_ms": {"p50": {"target": 1, "warning": 2, "critical": 3}}}', "p95"),
        ('{"db_query_ms": {"p95": {"target": "fast", "warning": 2, "critical": 3}}}', "number"),
        ('{"latency": {}}', "unknown budget sections"),
        ('{"error_rate": {"target": 1}}', "expected keys"),
        ("not json", "Expecting value"),
    ],
)
def test_bad_budgets_file_exits_2_with_a_message(tmp_path, capsys, content, message):
    path = tmp_path / "budgets.json"
    path.write_text(content)
    assert main(["render", "--out", str(tmp_path), "--targets", str(path)]) == 2
    assert message in capsys.readouterr().err
    assert load_targets(None) == Targets()
