"""Fork models: gunicorn pre-fork (``--preload``: the app and the SDK boot in the
master, then workers fork) and without ``--preload``, pushing OTLP to a real
collector. Every worker's exporter thread works (the total is exact) and each
worker reports under its own ``instance`` (``service.instance.id``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "apps"))
import hostile_harness as harness

pytestmark = pytest.mark.e2e
stack = harness.stack

WORKERS = 3
ROUNDS = 10
PER_ROUND = 200


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[stack.Collector]:
    with stack.run_collector(tmp_path_factory.mktemp("fork-collector")) as running:
        yield running


@pytest.mark.parametrize("preload", [True, False], ids=["preload", "no-preload"])
def test_gunicorn_workers_each_export_and_add_up_exactly(
    collector: stack.Collector, tmp_path: Path, preload: bool
) -> None:
    port = stack.free_port()
    job = f"fork-{'preload' if preload else 'plain'}"
    service = harness.start_service(
        tmp_path,
        harness.gunicorn_command(port, WORKERS, preload=preload),
        port,
        harness.otlp_env(collector.ports),
        name=job,
    )
    try:
        # New connections are spread over the workers; several rounds of short-lived
        # connections make every worker serve some requests.
        pids: set[int] = set()
        sent = 0
        for _ in range(ROUNDS):
            results = harness.send_all(
                port, [(b"GET", b"/pid", ())] * PER_ROUND, concurrency=20, keep_bodies=True
            )
            assert not results.errors, results.errors
            assert results.statuses == {200: PER_ROUND}
            sent += PER_ROUND
            pids |= {json.loads(body)["pid"] for body in results.bodies}
            if len(pids) == WORKERS:
                break
        instances = harness.wait_for_collector_total(collector, job, sent, timeout=60)
        assert service.process.running()
    finally:
        service.stop()
    stack.say(f"{job}: {sent} requests, workers {sorted(pids)}, instances {len(instances)}")
    assert len(pids) == WORKERS, pids  # every worker served (and so exported)
    assert len(instances) == len(pids)  # one instance label per worker process
    assert "" not in instances
    log = service.log()
    assert "could not rebuild telemetry" not in log
    assert "Traceback" not in log
