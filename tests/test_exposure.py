"""Exposure: the exposition can be turned off, moved, or served on a separate port
bound to 127.0.0.1; the collector's listeners bind to 127.0.0.1 unless told otherwise.

Bound addresses are read from the kernel (``/proc/net/tcp``/``tcp6`` matched to
the process's socket inodes), not from configuration.
"""

from __future__ import annotations

import os
import re
import socket
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml
from _client import get
from _promtool import unexpected_complaints

import azora_otel
from azora_otel.testing import capture

sys.path.insert(0, str(Path(__file__).parent / "apps"))
import hostile_app
import hostile_harness as harness

stack = harness.stack


def listening(pid: int) -> set[tuple[str, int]]:
    """``(address, port)`` of every TCP socket in LISTEN state owned by ``pid``."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = set()
    for table, size in (("tcp", 4), ("tcp6", 16)):
        path = Path(f"/proc/net/{table}")
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state != "0A" or inode not in inodes:
                continue
            address_hex, port_hex = local.split(":")
            raw = bytes.fromhex(address_hex)
            if size == 4:
                address = socket.inet_ntop(socket.AF_INET, raw[::-1])
            else:
                words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
                address = socket.inet_ntop(socket.AF_INET6, words)
            found.add((address, int(port_hex, 16)))
    return found


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


# -- in process --------------------------------------------------------------------


@pytest.mark.parametrize("value", ["off", "OFF", "none", "false"])
def test_metrics_path_off_serves_nothing_and_counts_the_probe_as_traffic(value: str) -> None:
    with capture({"AZORA_METRICS_PATH": value}) as cap:
        app = hostile_app.create_app()
        azora_otel.instrument_app(app, cap.telemetry)
        response = get(app, "/metrics")
        assert response.status_code == 404
        assert "http_requests_total" not in response.text
        assert cap.value("http_requests_total", route="unmatched", status_code="404") == 1


def test_moved_metrics_path() -> None:
    with capture({"AZORA_METRICS_PATH": "/internal/m-7f3a"}) as cap:
        app = hostile_app.create_app()
        azora_otel.instrument_app(app, cap.telemetry)
        assert get(app, "/metrics").status_code == 404
        moved = get(app, "/internal/m-7f3a")
        assert moved.status_code == 200
        assert "http_requests_total" in moved.text


def test_collector_config_binds_every_listener_to_loopback_by_default() -> None:
    config = yaml.safe_load(stack.COLLECTOR_CONFIG.read_text())
    endpoints = [
        config["extensions"]["health_check"]["endpoint"],
        *(p["endpoint"] for p in config["receivers"]["otlp"]["protocols"].values()),
        config["exporters"]["prometheus"]["endpoint"],
    ]
    telemetry = config["service"]["telemetry"]["metrics"]["readers"]
    defaults = []
    for endpoint in endpoints:
        match = re.fullmatch(r"\$\{env:(\w+):-([^}]*)\}", endpoint)
        assert match, f"{endpoint!r} is not overridable from the environment"
        defaults.append(match.group(2))
    assert all(d.startswith("127.0.0.1:") for d in defaults), defaults
    assert [r["pull"]["exporter"]["prometheus"]["host"] for r in telemetry] == ["127.0.0.1"]
    assert "0.0.0.0" not in re.sub(r"#.*", "", stack.COLLECTOR_CONFIG.read_text())


# -- real processes ------------------------------------------------------------------


@pytest.mark.e2e
def test_separate_metrics_port_is_bound_to_loopback(tmp_path: Path) -> None:
    port, metrics_port = stack.free_port(), stack.free_port()
    service = harness.start_service(
        tmp_path,
        harness.uvicorn_command(port),
        port,
        {"AZORA_METRICS_PORT": str(metrics_port)},
        name="exposure",
        metrics_port=metrics_port,
    )
    try:
        stack.wait_for_port(service.process, metrics_port)
        bound = listening(service.process.pid)
        assert ("127.0.0.1", metrics_port) in bound, bound
        assert not [b for b in bound if b[1] == metrics_port and b[0] != "127.0.0.1"]
        assert harness.get(port, "/items/1") == 200
        # The app's port no longer serves the exposition: /metrics is ordinary traffic.
        assert status(f"{service.base}/metrics") == 404
        # A request is recorded after its last byte is sent: wait for the counts.
        expected = {("/items/{item_id}", "200"): 1, ("unmatched", "404"): 1}
        text = wait_for_requests(service, expected)
        assert unexpected_complaints(text) == []
    finally:
        service.stop()


def wait_for_requests(
    service: harness.Service,
    expected: dict[tuple[str, str], int],
    headers: dict[str, str] | None = None,
) -> str:
    """Scrape until the exposition counts exactly ``expected`` by (route, status_code)."""
    last: list[str] = [""]

    def reached() -> bool:
        last[0] = scrape(service, headers)[1]
        return dict(harness.requests_by(last[0], "route", "status_code")) == expected

    try:
        stack.wait_for(reached, 60, f"request counts {expected}")
    except stack.StackError as error:
        raise AssertionError(f"{error}; last exposition:\n{last[0]}") from None
    return last[0]


def scrape(service: harness.Service, headers: dict[str, str] | None = None) -> tuple[int, str]:
    port = service.metrics_port or service.port
    request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics", headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read().decode()


@pytest.mark.e2e
def test_separate_metrics_port_with_a_token_file(tmp_path: Path) -> None:
    token = "e2e-token-5d41402abc4b2a76b9719d911017c592"
    token_file = tmp_path / "metrics-token"
    token_file.write_text(token + "\n")
    port, metrics_port = stack.free_port(), stack.free_port()
    service = harness.start_service(
        tmp_path,
        harness.uvicorn_command(port),
        port,
        {"AZORA_METRICS_PORT": str(metrics_port), "AZORA_METRICS_TOKEN_FILE": str(token_file)},
        name="token-port",
        metrics_port=metrics_port,
    )
    try:
        stack.wait_for_port(service.process, metrics_port)
        assert harness.get(port, "/items/1") == 200
        assert scrape(service)[0] == 401
        assert scrape(service, {"Authorization": "Bearer wrong"})[0] == 401
        good = {"Authorization": f"Bearer {token}"}
        text = wait_for_requests(service, {("/items/{item_id}", "200"): 1}, good)
        assert unexpected_complaints(text) == []
        log = service.log()
        assert "exposition_access=token" in log
        assert token not in log + text
    finally:
        service.stop()


@pytest.mark.e2e
def test_metrics_path_off_and_moved_on_a_real_service(tmp_path: Path) -> None:
    port = stack.free_port()
    service = harness.start_service(
        tmp_path / "off", harness.uvicorn_command(port), port, {"AZORA_METRICS_PATH": "off"}
    )
    try:
        assert status(f"{service.base}/metrics") == 404
    finally:
        service.stop()
    port = stack.free_port()
    service = harness.start_service(
        tmp_path / "moved", harness.uvicorn_command(port), port, {"AZORA_METRICS_PATH": "/_m"}
    )
    try:
        assert status(f"{service.base}/metrics") == 404
        assert "http_requests_total" in service.scrape_counted(1, "/_m")
    finally:
        service.stop()


@pytest.mark.e2e
def test_running_collector_listens_on_loopback_only(tmp_path: Path) -> None:
    with stack.run_collector(tmp_path) as collector:
        bound = listening(collector.process.pid)
    ports = collector.ports
    expected = {
        ("127.0.0.1", p)
        for p in (ports.otlp_grpc, ports.otlp_http, ports.prometheus, ports.health, ports.telemetry)
    }
    assert expected <= bound, bound
    assert {address for address, _ in bound} == {"127.0.0.1"}, bound
