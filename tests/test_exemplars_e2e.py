"""Exemplars in the in-process exposition, proven with a real Prometheus.

A service under ``azora-otel-instrument`` with tracing on serves ``/metrics`` behind a
bearer token; Debian's Prometheus 2.42 with ``--enable-feature=exemplar-storage``
scrapes it with the commented in-process job of alerts/prometheus.yml and its
``authorization:`` block (OpenMetrics is what Prometheus asks for first). The
exemplar Prometheus returns from ``/api/v1/query_exemplars`` carries the trace id of
the ``slow_request`` record the service logged for the slow request, on the bucket
its duration fell in. A second job without the token is refused (401) and the
service counts none of its scrapes.
"""

from __future__ import annotations

import json
import re
import sys
import time
import urllib.parse
from pathlib import Path

import pytest
import stack
import yaml

sys.path.insert(0, str(Path(__file__).parent / "apps"))
import hostile_harness as harness

pytestmark = pytest.mark.e2e

TOKEN = "exemplar-e2e-9b74c9897bac770ffc029102a200c5de"
BOUNDS = (10, 50, 100, 200, 500, 1000, 2000, 5000)


def api(prometheus_url: str, path: str, **params: str) -> dict:  # type: ignore[type-arg]
    status, body = stack.http_get(f"{prometheus_url}{path}?{urllib.parse.urlencode(params)}")
    assert status == 200, body[:300]
    payload = json.loads(body)
    assert payload["status"] == "success", payload
    return payload["data"]  # type: ignore[no-any-return]


def shipped_scrape_job(target: str, token_file: Path) -> dict:  # type: ignore[type-arg]
    """The commented in-process job of alerts/prometheus.yml, uncommented and pointed
    at ``target`` with ``token_file``: the block users copy is the one proven here."""
    text = (stack.ALERTS_DIR / "prometheus.yml").read_text()
    block = text.split("# BEGIN in-process exposition\n", 1)[1].split("# END", 1)[0]
    (job,) = yaml.safe_load("\n".join(line.replace("# ", "", 1) for line in block.splitlines()))
    assert job["authorization"]["credentials_file"]
    job["authorization"]["credentials_file"] = str(token_file)
    job["static_configs"] = [{"targets": [target]}]
    job["scrape_interval"] = "1s"
    return job  # type: ignore[no-any-return]


def start_prometheus(
    work_dir: Path, target: str, token_file: Path
) -> tuple[stack.ManagedProcess, str]:
    port = stack.free_port()
    config = {
        "global": {"scrape_interval": "1s"},
        "scrape_configs": [
            {**shipped_scrape_job(target, token_file), "job_name": "shop"},
            {
                "job_name": "shop-without-token",
                "scrape_interval": "1s",
                "static_configs": [{"targets": [target]}],
            },
        ],
    }
    work_dir.mkdir(parents=True, exist_ok=True)
    config_path = work_dir / "prometheus.yml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    process = stack.start_process(
        "prometheus",
        [
            str(stack.prometheus_binary()),
            f"--config.file={config_path}",
            f"--storage.tsdb.path={work_dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--enable-feature=exemplar-storage",
        ],
        work_dir,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        stack.wait_until_ready(process, f"{url}/-/ready", 60)
    except BaseException:
        process.stop()
        raise
    return process, url


def test_prometheus_stores_the_exemplar_of_a_slow_request(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    port = stack.free_port()
    service = harness.start_service(
        tmp_path / "service",
        harness.uvicorn_command(port),
        port,
        {
            "OTEL_TRACES_EXPORTER": "console",  # tracing on; spans land in the service log
            "AZORA_METRICS_TOKEN_FILE": str(token_file),
        },
        name="shop",
    )
    prometheus, url = start_prometheus(tmp_path / "prometheus", f"127.0.0.1:{port}", token_file)
    try:
        assert harness.get(port, "/db/slow?ms=300") == 200
        trace_id = slow_request_trace_id(service)
        start = time.time() - 300
        found: list[dict] = []  # type: ignore[type-arg]

        def stored() -> bool:
            data = api(
                url,
                "/api/v1/query_exemplars",
                query='http_request_duration_ms_bucket{job="shop"}',
                start=str(start),
                end=str(time.time() + 60),
            )
            found[:] = [
                {**series["seriesLabels"], **exemplar}
                for series in data
                for exemplar in series["exemplars"]
            ]
            return any(e["labels"].get("trace_id") == trace_id for e in found)

        stack.wait_for(stored, 90, f"an exemplar with trace_id {trace_id}")
        (exemplar,) = [e for e in found if e["labels"]["trace_id"] == trace_id]
        stack.say(f"query_exemplars: {json.dumps(exemplar)}")
        duration = float(exemplar["value"])
        assert exemplar["route"] == "/db/slow"
        assert duration >= 300
        upper = float(exemplar["le"])
        assert max((b for b in BOUNDS if b < upper), default=0) < duration <= upper
        assert re.fullmatch(r"[0-9a-f]{16}", exemplar["labels"]["span_id"])

        targets = api(url, "/api/v1/targets")["activeTargets"]
        by_job = {t["labels"]["job"]: t for t in targets}
        assert by_job["shop"]["health"] == "up"

        def refused() -> bool:
            target = api(url, "/api/v1/targets")["activeTargets"]
            without = next(t for t in target if t["labels"]["job"] == "shop-without-token")
            return without["health"] == "down" and "401" in without["lastError"]

        stack.wait_for(refused, 60, "the job without the token to be refused with 401")
        # Neither job's scrapes are traffic: one request, the slow one.
        totals = stack.promql(url, 'sum(http_requests_total{job="shop"})')
        assert float(totals[0]["value"][1]) == 1
    finally:
        prometheus.stop()
        service.stop()
    assert TOKEN not in service.log()


def slow_request_trace_id(service: harness.Service) -> str:
    """The trace id of the service's ``slow_request`` record (waits for it to be logged)."""
    found: list[str] = []

    def logged() -> bool:
        match = re.search(r"event=slow_request .*trace_id=([0-9a-f]{32})", service.log())
        if match:
            found.append(match.group(1))
        return bool(match)

    stack.wait_for(logged, 60, "the slow_request record")
    return found[0]
