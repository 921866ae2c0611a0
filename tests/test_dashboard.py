"""The Grafana dashboard: structure, thresholds from the targets, and every query run on a
real Prometheus (with the rendered recording rules) that scrapes a live exposition."""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path

import pytest
import yaml
from stack import http_get, run_prometheus, wait_for
from test_budget import SERVICES, exposition, serve

from azora_otel._ops.targets import DEFAULT_TARGETS

REPO = Path(__file__).resolve().parents[1]
DASHBOARD = REPO / "dashboards" / "performance-dashboard.json"
PROVISIONING = REPO / "dashboards" / "provisioning"
RULES = REPO / "alerts" / "alert-rules.yml"

# The seed's seven panels: title -> (type, unit).
PANELS = {
    "API latency percentiles": ("timeseries", "ms"),
    "API latency P95": ("gauge", "ms"),
    "Database query time percentiles": ("timeseries", "ms"),
    "Error rate": ("gauge", "percentunit"),
    "Request throughput by status code": ("timeseries", "reqps"),
    "Slow requests": ("timeseries", "reqps"),
    "Slow queries": ("timeseries", "ops"),
}


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def _panel(dashboard: dict, title: str) -> dict:
    return next(p for p in dashboard["panels"] if p["title"] == title)


def _steps(panel: dict) -> list:
    return [s["value"] for s in panel["fieldConfig"]["defaults"]["thresholds"]["steps"]]


def test_identity_and_panels(dashboard):
    assert dashboard["uid"] == "azora-performance"
    assert dashboard["title"]
    assert {
        p["title"]: (p["type"], p["fieldConfig"]["defaults"]["unit"]) for p in dashboard["panels"]
    } == PANELS
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(set(ids)) == len(ids)
    for panel in dashboard["panels"]:
        assert panel["targets"], panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        for target in panel["targets"]:
            assert 'job=~"$service"' in target["expr"], target["expr"]


def test_variables(dashboard):
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    service = variables["service"]
    assert service["type"] == "query"
    assert service["query"]["query"] == "label_values(http_requests_total, job)"
    assert service["multi"] is True
    assert service["includeAll"] is True


def test_thresholds_come_from_the_targets(dashboard):
    t = DEFAULT_TARGETS
    api_p95 = next(r for r in t.api_latency if r.metric == "p95")
    db_p95 = next(r for r in t.db_query if r.metric == "p95")
    # the seed: API P95 gauge at 100 / 200 ms, error gauge at 0.1 % / 1 %
    assert _steps(_panel(dashboard, "API latency P95")) == [None, 100, 200]
    assert _steps(_panel(dashboard, "Error rate")) == [None, 0.001, 0.01]
    assert _steps(_panel(dashboard, "API latency P95")) == [
        None,
        t.api_latency_ms,
        api_p95.critical,
    ]
    assert _steps(_panel(dashboard, "API latency percentiles")) == [
        None,
        t.api_latency_ms,
        api_p95.critical,
    ]
    assert _steps(_panel(dashboard, "Database query time percentiles")) == [
        None,
        t.db_query_ms,
        db_p95.critical,
    ]
    assert _steps(_panel(dashboard, "Error rate")) == [
        None,
        t.error_rate.warning,
        t.error_rate.critical,
    ]
    latency = _panel(dashboard, "API latency percentiles")
    assert [x["legendFormat"] for x in latency["targets"]] == [
        "{{job}} P50",
        "{{job}} P95",
        "{{job}} P99",
    ]


LATENCY_PANELS = ("API latency percentiles", "Database query time percentiles")


def test_latency_panels_show_exemplars(dashboard):
    """Grafana asks Prometheus for exemplars of a target with ``"exemplar": true``, for the
    series its expression selects: the raw ``_bucket`` series (recording rules carry none)."""
    for title in LATENCY_PANELS:
        for target in _panel(dashboard, title)["targets"]:
            assert target["exemplar"] is True, (title, target)
            assert "_duration_ms_bucket{" in target["expr"], (title, target)
    others = [
        t for p in dashboard["panels"] if p["title"] not in LATENCY_PANELS for t in p["targets"]
    ]
    assert [t for t in others if t.get("exemplar")] == []


def test_latency_lines_are_what_the_alerts_see():
    """The panels' percentiles are the recording rules' expressions (same 5m window) for
    the chosen services: the threshold lines compare like for like."""
    dashboard = json.loads(DASHBOARD.read_text())
    records = {
        r["record"]: r["expr"]
        for g in yaml.safe_load(RULES.read_text())["groups"]
        for r in g["rules"]
        if "record" in r
    }
    for title, histogram in zip(
        LATENCY_PANELS, ("http_request_duration_ms", "db_query_duration_ms"), strict=True
    ):
        for target in _panel(dashboard, title)["targets"]:
            quantile = target["legendFormat"].split()[-1].lower()
            rule = records[f"job:{histogram}:{quantile}_rate5m"]
            assert target["expr"].replace('{job=~"$service"}', "") == rule


def test_provisioning_files():
    (ds_file,) = (PROVISIONING / "datasources").glob("*.yml")
    ds = yaml.safe_load(ds_file.read_text())
    assert ds["apiVersion"] == 1
    sources = {source["uid"]: source for source in ds["datasources"]}
    assert sources["prometheus"]["type"] == "prometheus"
    assert sources["prometheus"]["url"] == "http://127.0.0.1:9090"
    # An exemplar's trace id opens the trace in the bundled Jaeger, on the port its
    # config gives the query API.
    jaeger_config = yaml.safe_load((REPO / "jaeger" / "config.yaml").read_text())
    (link,) = sources["prometheus"]["jsonData"]["exemplarTraceIdDestinations"]
    assert link == {"name": "trace_id", "datasourceUid": "jaeger"}
    assert sources["jaeger"]["type"] == "jaeger"
    port = sources["jaeger"]["url"].rsplit(":", 1)[1]
    assert port in json.dumps(jaeger_config)
    (db_file,) = (PROVISIONING / "dashboards").glob("*.yml")
    providers = yaml.safe_load(db_file.read_text())
    (provider,) = providers["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"]


def _queries(dashboard: dict, service: str) -> list[tuple[str, str]]:
    return [
        (
            panel["title"],
            target["expr"].replace("$service", service).replace("$__rate_interval", "1m"),
        )
        for panel in dashboard["panels"]
        for target in panel["targets"]
    ]


@pytest.mark.e2e
def test_every_query_runs_and_returns_data(dashboard, tmp_path):
    """Valid PromQL, and data back once the recording rules have run on live series."""
    with (
        serve(exposition) as address,
        run_prometheus(tmp_path, scrape_targets=[address], rule_files=[RULES]) as prom,
    ):

        def ready() -> bool:
            return bool(prom.query("job:http_request_duration_ms:p95_rate5m"))

        wait_for(ready, 30, "recording rules evaluated")
        for title, expr in _queries(dashboard, "svc-good|svc-bad"):
            url = f"{prom.url}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
            status, body = http_get(url)
            answer = json.loads(body)
            assert status == 200, (title, expr, answer)
            assert answer["status"] == "success", (title, expr, answer)
            result = answer["data"]["result"]
            assert result, (title, expr)
            jobs = {r["metric"].get("job") for r in result} - {None}
            assert jobs <= {"svc-good", "svc-bad"}, (title, jobs)

        # the $service variable's query
        query = urllib.parse.urlencode({"match[]": "http_requests_total"})
        status, body = http_get(f"{prom.url}/api/v1/label/job/values?{query}")
        assert sorted(json.loads(body)["data"]) == sorted(SERVICES)
