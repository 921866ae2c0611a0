"""Other meters' metrics (``AZORA_OTHER_METRICS``): dropped by default, kept on request,
bounded when kept, never under a contract name; the same rule for every reader (the
in-memory reader here stands for the OTLP push: both read the same meter provider)."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path

import pytest
import stack
from _client import families
from _promtool import unexpected_complaints
from opentelemetry.metrics import CallbackOptions, NoOpMeter, Observation

from azora_otel._instruments import CONTRACT_NAMES
from azora_otel._other_metrics import takes_contract_name
from azora_otel._settings import Settings
from azora_otel.testing import Capture, capture

sys.path.insert(0, str(Path(__file__).parent / "apps"))
import hostile_harness as harness


def record_contract(cap: Capture) -> None:
    telemetry = cap.telemetry
    telemetry.requests.record("GET", "/x", 200, 250.0)
    telemetry.queries.record("select", "orders", 300.0, "success")


def record_library(cap: Capture, meter: str = "celery", value: int = 3) -> None:
    lib = cap.telemetry.meter_provider.get_meter(meter, "5.4")
    lib.create_counter("tasks.completed", unit="{task}", description="Tasks.").add(
        value, {"queue": "default"}
    )
    lib.create_histogram("task.runtime", unit="s").record(0.25, {"queue": "default"})


def metric_names(cap: Capture) -> list[str]:
    data = cap.reader.get_metrics_data()
    if data is None:
        return []
    return [m.name for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics]


def exposition_names(cap: Capture) -> set[str]:
    return set(families(cap.exposition()))


CONTRACT_FAMILIES = {
    "http_request_duration_ms",
    "http_requests",
    "http_error_rate",
    "slow_requests",
    "db_query_duration_ms",
    "db_queries",
    "slow_queries",
}


def test_other_meters_are_dropped_by_default_from_every_reader(azora_records) -> None:
    with capture() as cap:
        record_contract(cap)
        record_library(cap)
        assert exposition_names(cap) == CONTRACT_FAMILIES
        assert sorted(metric_names(cap)) == sorted(CONTRACT_NAMES)
    assert any(
        "celery" in r.getMessage() and "AZORA_OTHER_METRICS" in r.getMessage()
        for r in azora_records
    )


def test_keep_exports_other_meters_in_every_reader() -> None:
    with capture({"AZORA_OTHER_METRICS": "keep"}) as cap:
        record_contract(cap)
        record_library(cap)
        names = exposition_names(cap)
        assert names == CONTRACT_FAMILIES | {"tasks_completed", "task_runtime_seconds"}
        assert {"tasks.completed", "task.runtime"} <= set(metric_names(cap))
        text = cap.exposition()
    assert 'tasks_completed_total{queue="default"} 3.0' in text


def test_a_list_keeps_the_listed_meters_only() -> None:
    with capture({"AZORA_OTHER_METRICS": "shop, billing"}) as cap:
        record_library(cap, "shop", 1)
        record_library(cap, "celery", 2)
        record_library(cap, "billing", 4)
        text = cap.exposition()
        scopes = {
            sm.scope.name
            for rm in cap.reader.get_metrics_data().resource_metrics  # type: ignore[union-attr]
            for sm in rm.scope_metrics
        }
    assert scopes == {"azora_otel", "shop", "billing"}
    assert 'tasks_completed_total{queue="default"} 5.0' not in text  # not merged across meters
    assert "tasks_completed_total" in text


@pytest.mark.parametrize("rule", ["drop", "keep", "shop"])
def test_the_contract_is_exported_once_and_exactly_whatever_the_rule(rule: str) -> None:
    with capture({"AZORA_OTHER_METRICS": rule}) as cap:
        record_contract(cap)
        record_library(cap, "shop")
        names = metric_names(cap)
        assert cap.value("http_requests_total") == 1
        assert cap.value("db_queries_total") == 1
        assert cap.value("slow_requests_total") == 1
        assert cap.value("http_request_duration_ms") == 1
    contract = [n for n in names if n in CONTRACT_NAMES]
    assert sorted(contract) == sorted(CONTRACT_NAMES)  # one stream each: no view doubled one


@pytest.mark.parametrize(
    "name", ["http_requests_total", "http_requests", "HTTP.Requests", "http_request_duration_ms"]
)
def test_an_instrument_with_a_contract_name_is_dropped(name: str, azora_records) -> None:
    with capture({"AZORA_OTHER_METRICS": "keep"}) as cap:
        record_contract(cap)
        lib = cap.telemetry.meter_provider.get_meter("impostor")
        lib.create_counter(name).add(7777)
        lib.create_counter("jobs").add(1)
        assert cap.value("http_requests_total") == 1
        assert cap.value("http_request_duration_ms") == 1
        exposition = cap.exposition()
        scopes = {
            sm.scope.name: [m.name for m in sm.metrics]
            for rm in cap.reader.get_metrics_data().resource_metrics  # type: ignore[union-attr]
            for sm in rm.scope_metrics
        }
    assert scopes["impostor"] == ["jobs"]
    assert "7777" not in exposition
    assert any("impostor" in r.getMessage() and "contract" in r.getMessage() for r in azora_records)


def test_takes_contract_name() -> None:
    assert takes_contract_name("db.queries")
    assert takes_contract_name("slow_queries_total")
    assert not takes_contract_name("http.server.request.duration")
    assert not takes_contract_name("http_requests_in_flight")


def test_kept_instruments_are_bounded_by_the_label_set_limit() -> None:
    environ = {"AZORA_OTHER_METRICS": "keep", "AZORA_OTHER_METRICS_LIMIT": "3"}
    with capture(environ) as cap:
        record_contract(cap)
        counter = cap.telemetry.meter_provider.get_meter("worker").create_counter("jobs")
        for pid in range(10):
            counter.add(1, {"pid": str(pid)})
        for route in range(10):  # the contract's own instruments keep the SDK's default limit
            cap.telemetry.requests.record("GET", f"/r{route}", 200, 1.0)
        family = families(cap.exposition())["jobs"]
        requests = families(cap.exposition())["http_requests"]
    labels = [s.labels for s in family.samples if s.name == "jobs_total"]
    assert len(labels) == 4
    assert {"otel_metric_overflow": "true", "pid": ""} in labels
    assert sum(s.value for s in family.samples if s.name == "jobs_total") == 10
    assert len([s for s in requests.samples if s.name == "http_requests_total"]) == 11


def test_dropped_meters_cost_nothing_not_even_their_callbacks() -> None:
    calls: list[int] = []

    def observe(_options: CallbackOptions) -> Iterable[Observation]:
        calls.append(1)
        return [Observation(1.0)]

    with capture() as cap:
        meter = cap.telemetry.meter_provider.get_meter(
            "opentelemetry.instrumentation.system_metrics"
        )
        assert isinstance(meter, NoOpMeter)
        meter.create_observable_gauge("system.cpu.utilization", callbacks=[observe])
        for _ in range(3):
            cap.exposition()
        assert calls == []
    with capture({"AZORA_OTHER_METRICS": "keep"}) as cap:
        meter = cap.telemetry.meter_provider.get_meter(
            "opentelemetry.instrumentation.system_metrics"
        )
        meter.create_observable_gauge("system.cpu.utilization", callbacks=[observe])
        cap.exposition()
        assert calls


@pytest.mark.parametrize(
    ("environ", "rule", "limit"),
    [
        ({}, "drop", 200),
        ({"AZORA_OTHER_METRICS": " KEEP "}, "keep", 200),
        ({"AZORA_OTHER_METRICS": "a, b,a"}, "a,b", 200),
        ({"AZORA_OTHER_METRICS_LIMIT": "50"}, "drop", 50),
    ],
)
def test_settings(environ: dict[str, str], rule: str, limit: int) -> None:
    settings = Settings.from_env(environ)
    assert settings.problems == ()
    assert (settings.other_metrics.rule, settings.other_metrics.limit) == (rule, limit)


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"AZORA_OTHER_METRICS": " , "}, "AZORA_OTHER_METRICS=' , '"),
        ({"AZORA_OTHER_METRICS_LIMIT": "0"}, "AZORA_OTHER_METRICS_LIMIT='0'"),
        ({"AZORA_OTHER_METRICS_LIMIT": "many"}, "AZORA_OTHER_METRICS_LIMIT='many'"),
        ({"AZORA_OTHER_METRICS_LIMIT": "20000"}, "AZORA_OTHER_METRICS_LIMIT='20000'"),
    ],
)
def test_invalid_settings_warn_and_use_the_default(environ: dict[str, str], named: str) -> None:
    settings = Settings.from_env(environ)
    (problem,) = settings.problems
    assert named in problem
    assert "using the default" in problem
    assert (settings.other_metrics.rule, settings.other_metrics.limit) == ("drop", 200)


# -- a real instrumentation from PyPI, under the launcher, both paths ------------------


def _families_of(text: str, job: str | None = None) -> set[str]:
    from prometheus_client.parser import text_string_to_metric_families

    names = set()
    for family in text_string_to_metric_families(text):
        if any(job is None or s.labels.get("job") == job for s in family.samples):
            names.add(family.name)
    return names


@pytest.mark.e2e
@pytest.mark.parametrize("rule", ["drop", "keep"])
def test_system_metrics_instrumentation_follows_the_rule_on_both_paths(
    tmp_path: Path, rule: str
) -> None:
    """opentelemetry-instrumentation-system-metrics (a test dependency) is loaded by the
    launcher like any installed instrumentation; it records ~30 families through the
    global meter provider. The in-process exposition and the OTLP push (through the
    real Collector) carry them only with ``keep``."""
    job = f"other-{rule}"
    ports = stack.CollectorPorts.pick()
    with stack.run_collector(tmp_path / "collector", ports=ports) as collector:
        port = stack.free_port()
        service = harness.start_service(
            tmp_path / "service",
            harness.uvicorn_command(port),
            port,
            {
                **harness.otlp_env(ports, interval_ms=500),
                "OTEL_METRICS_EXPORTER": "prometheus,otlp",
                "AZORA_OTHER_METRICS": rule,
            },
            name=job,
        )
        try:
            assert harness.get(port, "/items/1") == 200
            harness.wait_for_collector_total(collector, job, 1)
            exposition = service.scrape()
            pushed = _families_of(collector.scrape(), job)
            log = service.log()
        finally:
            service.stop()
    local = _families_of(exposition)
    foreign_local = {n for n in local if n.startswith(("system_", "process_"))}
    foreign_pushed = {n for n in pushed if n.startswith(("system_", "process_"))}
    helps = [line for line in exposition.splitlines() if line.startswith("# HELP")]
    assert len(helps) == len(set(helps))
    if rule == "drop":
        assert local <= CONTRACT_FAMILIES, local
        assert foreign_pushed == set(), pushed
        assert unexpected_complaints(exposition) == []
        assert "opentelemetry.instrumentation.system_metrics are not exported" in log
    else:
        assert len(foreign_local) >= 10, local
        assert len(foreign_pushed) >= 10, pushed
        assert {"http_requests", "http_request_duration_ms"} <= local
        # Other libraries' names may draw promtool's style lints; nothing else.
        assert all("should" in line for line in unexpected_complaints(exposition))
