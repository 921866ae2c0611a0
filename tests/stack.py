"""Start the real observability stack for tests: Collector, Prometheus, Alertmanager.

Every service binds to a free port on 127.0.0.1, logs to a file in a directory
the caller owns, and is stopped by the context manager that started it. A
missing binary or a service that does not become ready raises ``StackError``
with the command line and the tail of the service's log: tests that need the
stack fail, they never skip.

Binaries:

* Collector: ``AZORA_OTELCOL_BIN``, else ``collector/build.sh`` (cached build).
* Prometheus / promtool: ``AZORA_PROMETHEUS_BIN`` / ``AZORA_PROMTOOL_BIN``, else PATH.
* Alertmanager: ``AZORA_ALERTMANAGER_BIN``, else ``alertmanager`` or Debian's
  ``prometheus-alertmanager`` on PATH.

``scripts/install-system-deps.sh`` installs Prometheus and Alertmanager on Debian.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from azora_otel.testing import free_port

REPO_ROOT = Path(__file__).resolve().parents[1]
COLLECTOR_DIR = REPO_ROOT / "collector"
COLLECTOR_CONFIG = COLLECTOR_DIR / "config.yaml"
REMOTE_WRITE_OVERLAY = COLLECTOR_DIR / "remote-write.yaml"
ALERTS_DIR = REPO_ROOT / "alerts"
ALERTMANAGER_TEMPLATE = ALERTS_DIR / "alertmanager.yml"

HOST = "127.0.0.1"
DEFAULT_READY_TIMEOUT = 30.0


class StackError(RuntimeError):
    """A stack service is missing, did not start, or answered with an error."""


def say(message: str) -> None:
    """Progress line for long steps (shown by pytest with ``-s`` or on failure)."""
    print(f"[stack] {message}", file=sys.stderr, flush=True)


# -- ports and binaries -------------------------------------------------------


def _find_executable(what: str, env_var: str, names: Sequence[str], hint: str) -> Path:
    override = os.environ.get(env_var)
    if override:
        path = Path(override)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise StackError(f"{env_var}={override!r} is not an executable file")
        return path
    for name in names:
        found = shutil.which(name)
        if found:
            return Path(found)
    raise StackError(
        f"{what} not found: none of {list(names)} is on PATH and {env_var} is not set. {hint}"
    )


_INSTALL_HINT = "Run scripts/install-system-deps.sh (Debian) or set the variable to the binary."


def prometheus_binary() -> Path:
    return _find_executable("Prometheus", "AZORA_PROMETHEUS_BIN", ["prometheus"], _INSTALL_HINT)


def promtool_binary() -> Path:
    return _find_executable("promtool", "AZORA_PROMTOOL_BIN", ["promtool"], _INSTALL_HINT)


def alertmanager_binary() -> Path:
    return _find_executable(
        "Alertmanager",
        "AZORA_ALERTMANAGER_BIN",
        ["alertmanager", "prometheus-alertmanager"],
        _INSTALL_HINT,
    )


def amtool_binary() -> Path:
    return _find_executable("amtool", "AZORA_AMTOOL_BIN", ["amtool"], _INSTALL_HINT)


_collector_bin_lock = threading.Lock()
_collector_bin: Path | None = None


def collector_binary() -> Path:
    """The otelcol-azora binary: ``AZORA_OTELCOL_BIN`` or a (cached) ``collector/build.sh``."""
    global _collector_bin  # noqa: PLW0603 -- one build per test session
    override = os.environ.get("AZORA_OTELCOL_BIN")
    if override:
        path = Path(override)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise StackError(f"AZORA_OTELCOL_BIN={override!r} is not an executable file")
        return path
    with _collector_bin_lock:
        if _collector_bin is None:
            _collector_bin = run_build(
                COLLECTOR_DIR / "build.sh", "the first build of a manifest takes minutes"
            )
        return _collector_bin


def run_build(script: Path, first_time: str) -> Path:
    """Run a build script and return the path it prints last on stdout; its progress
    (stderr) goes straight to the terminal. A failed build raises :class:`StackError`."""
    name = f"{script.parent.name}/{script.name}"
    say(f"{name} ({first_time})")
    started = time.monotonic()
    result = subprocess.run(["bash", str(script)], stdout=subprocess.PIPE, text=True, check=False)
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        raise StackError(
            f"{name} failed with exit code {result.returncode}; its error is printed above (stderr)"
        )
    built = Path(lines[-1])
    say(f"{built} ({time.monotonic() - started:.1f}s)")
    return built


def json_objects(text: str) -> Iterator[str]:
    """The top-level ``{...}`` objects in a process's log (the console span exporter's
    spans, JSON log records), one string each, in order."""
    depth = 0
    start = -1
    for index, char in enumerate(text):
        if char == "{":
            if depth == 0:
                start = index
            depth += 1
        elif char == "}" and depth:
            depth -= 1
            if depth == 0:
                yield text[start : index + 1]


# -- processes ----------------------------------------------------------------


@dataclass
class ManagedProcess:
    """A child process whose stdout and stderr go to ``log_path``."""

    name: str
    args: list[str]
    log_path: Path
    popen: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.popen.pid

    def running(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def failure(self, what: str) -> StackError:
        status = "running" if self.running() else f"exited with {self.popen.returncode}"
        return StackError(
            f"{self.name}: {what} ({status})\n"
            f"command: {' '.join(self.args)}\n"
            f"last lines of {self.log_path}:\n{self.log_tail()}"
        )

    def stop(self, timeout: float = 15.0, sig: int = signal.SIGTERM) -> int:
        """Signal the process (SIGTERM by default) and wait; SIGKILL after ``timeout``."""
        if self.running():
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        return self.popen.returncode


def start_process(
    name: str, args: Sequence[str], log_dir: Path, env: Mapping[str, str] | None = None
) -> ManagedProcess:
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    merged = dict(os.environ)
    if env:
        merged.update(env)
    with log_path.open("ab") as log:
        popen = subprocess.Popen(
            list(args),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=merged,
            start_new_session=True,  # a Ctrl-C in the terminal does not hit it first
        )
    return ManagedProcess(name=name, args=list(args), log_path=log_path, popen=popen)


def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    """GET ``url``; returns (status, body) for any HTTP status, raises OSError otherwise."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def wait_until_ready(
    process: ManagedProcess, url: str, timeout: float = DEFAULT_READY_TIMEOUT
) -> None:
    """Poll ``url`` until it answers 200; fail early if the process dies."""
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while time.monotonic() < deadline:
        if not process.running():
            raise process.failure(f"exited before {url} became ready")
        try:
            status, body = http_get(url, timeout=2.0)
        except OSError as error:
            last = repr(error)
        else:
            if status == 200:
                return
            last = f"HTTP {status}: {body[:200]!r}"
        time.sleep(0.1)
    raise process.failure(f"{url} not ready after {timeout:.0f}s (last: {last})")


def wait_for_port(
    process: ManagedProcess, port: int, timeout: float = DEFAULT_READY_TIMEOUT
) -> None:
    """Wait until ``port`` on 127.0.0.1 accepts TCP connections (no HTTP request is made,
    so readiness probes do not show up in the service's own request metrics)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process.running():
            raise process.failure(f"exited before port {port} accepted connections")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(1.0)
            if sock.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.1)
    raise process.failure(f"port {port} not accepting connections after {timeout:.0f}s")


def wait_for(
    condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.25
) -> None:
    """Poll ``condition`` until it is true; raise ``StackError`` naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise StackError(f"timed out after {timeout:.0f}s waiting for {what}")


# -- the Collector ------------------------------------------------------------


@dataclass(frozen=True)
class CollectorPorts:
    """The Collector's listeners; reuse the same object to restart it on the same ports."""

    otlp_grpc: int
    otlp_http: int
    prometheus: int
    health: int
    telemetry: int

    @classmethod
    def pick(cls) -> CollectorPorts:
        return cls(free_port(), free_port(), free_port(), free_port(), free_port())

    def environ(self) -> dict[str, str]:
        """The variables collector/config.yaml reads its endpoints from."""
        return {
            "AZORA_OTLP_GRPC_ENDPOINT": f"{HOST}:{self.otlp_grpc}",
            "AZORA_OTLP_HTTP_ENDPOINT": f"{HOST}:{self.otlp_http}",
            "AZORA_PROMETHEUS_ENDPOINT": f"{HOST}:{self.prometheus}",
            "AZORA_HEALTH_CHECK_ENDPOINT": f"{HOST}:{self.health}",
            "AZORA_COLLECTOR_TELEMETRY_PORT": str(self.telemetry),
        }


@dataclass
class Collector:
    process: ManagedProcess
    ports: CollectorPorts

    @property
    def otlp_http_url(self) -> str:
        """Base URL for ``OTEL_EXPORTER_OTLP_ENDPOINT`` with the http/protobuf protocol."""
        return f"http://{HOST}:{self.ports.otlp_http}"

    @property
    def otlp_grpc_url(self) -> str:
        return f"http://{HOST}:{self.ports.otlp_grpc}"

    @property
    def prometheus_target(self) -> str:
        """``host:port`` of the Prometheus exporter, for a scrape config."""
        return f"{HOST}:{self.ports.prometheus}"

    @property
    def metrics_url(self) -> str:
        return f"http://{self.prometheus_target}/metrics"

    def scrape(self) -> str:
        """The exporter's current text exposition."""
        status, body = http_get(self.metrics_url)
        if status != 200:
            raise self.process.failure(f"{self.metrics_url} answered HTTP {status}")
        return body.decode()

    def stop(self, timeout: float = 15.0) -> int:
        return self.process.stop(timeout)


def start_collector(
    log_dir: Path,
    *,
    ports: CollectorPorts | None = None,
    configs: Sequence[Path] = (COLLECTOR_CONFIG,),
    env: Mapping[str, str] | None = None,
    name: str = "otelcol-azora",
    timeout: float = DEFAULT_READY_TIMEOUT,
) -> Collector:
    """Start the Collector with ``configs`` (merged in order) and wait for its health check."""
    binary = collector_binary()
    ports = ports or CollectorPorts.pick()
    args = [str(binary), *(f"--config={path}" for path in configs)]
    process = start_process(name, args, log_dir, env={**ports.environ(), **(env or {})})
    try:
        wait_until_ready(process, f"http://{HOST}:{ports.health}/", timeout)
    except BaseException:
        process.stop()
        raise
    return Collector(process=process, ports=ports)


@contextlib.contextmanager
def run_collector(
    log_dir: Path,
    *,
    ports: CollectorPorts | None = None,
    configs: Sequence[Path] = (COLLECTOR_CONFIG,),
    env: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_READY_TIMEOUT,
) -> Iterator[Collector]:
    collector = start_collector(log_dir, ports=ports, configs=configs, env=env, timeout=timeout)
    try:
        yield collector
    finally:
        collector.stop()


def validate_collector_config(
    configs: Sequence[Path], env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``otelcol-azora validate`` on ``configs``; the caller checks ``returncode``."""
    args = [str(collector_binary()), "validate", *(f"--config={path}" for path in configs)]
    return subprocess.run(
        args,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
        check=False,
    )


# -- Prometheus ---------------------------------------------------------------


@dataclass
class Prometheus:
    process: ManagedProcess
    port: int
    config_path: Path

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def remote_write_url(self) -> str:
        """Valid when started with ``remote_write_receiver=True``."""
        return f"{self.url}/api/v1/write"

    def query(self, expr: str) -> list[dict[str, Any]]:
        return promql(self.url, expr)

    def stop(self, timeout: float = 15.0) -> int:
        return self.process.stop(timeout)


def prometheus_config(
    *,
    scrape_targets: Sequence[str] = (),
    scrape_interval: str = "1s",
    evaluation_interval: str = "1s",
    rule_files: Sequence[Path] = (),
    alertmanager: str | None = None,
) -> dict[str, Any]:
    """A test twin of alerts/prometheus.yml with short intervals and the given parts."""
    config: dict[str, Any] = {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": evaluation_interval},
        "rule_files": [str(path) for path in rule_files],
        "scrape_configs": [],
    }
    if scrape_targets:
        config["scrape_configs"].append(
            {
                "job_name": "otelcol-azora",
                "honor_labels": True,
                "scrape_interval": scrape_interval,
                "static_configs": [{"targets": list(scrape_targets)}],
            }
        )
    if alertmanager:
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]}
    return config


def start_prometheus(
    work_dir: Path,
    *,
    scrape_targets: Sequence[str] = (),
    scrape_interval: str = "1s",
    evaluation_interval: str = "1s",
    rule_files: Sequence[Path] = (),
    alertmanager: str | None = None,
    remote_write_receiver: bool = False,
    alert_resend_delay: str = "1s",
    timeout: float = DEFAULT_READY_TIMEOUT,
    binary: Path | None = None,
    config: Mapping[str, Any] | None = None,
    extra_args: Sequence[str] = (),
) -> Prometheus:
    """Start Prometheus on a free port with a generated config and a fresh data dir.

    ``alertmanager`` is ``host:port``. The rule files are loaded as given: a
    missing or broken one makes startup fail (with Prometheus's message).
    ``alert_resend_delay`` is short because Prometheus drops the alerts it
    fires before it has discovered the Alertmanager (about 5s after start) and
    only resends them after this delay (1m by default).
    ``binary`` replaces Debian's Prometheus (Prometheus 3: tests/stack_builds.py),
    ``config`` the generated config (the other config options are then ignored),
    ``extra_args`` are appended to the command line (feature flags).
    """
    binary = binary or prometheus_binary()
    work_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config_path = work_dir / "prometheus.yml"
    if config is None:
        config = prometheus_config(
            scrape_targets=scrape_targets,
            scrape_interval=scrape_interval,
            evaluation_interval=evaluation_interval,
            rule_files=rule_files,
            alertmanager=alertmanager,
        )
    config_path.write_text(yaml.safe_dump(dict(config), sort_keys=False))
    args = [
        str(binary),
        f"--config.file={config_path}",
        f"--storage.tsdb.path={work_dir / 'data'}",
        f"--web.listen-address={HOST}:{port}",
        "--web.enable-lifecycle",
        f"--rules.alert.resend-delay={alert_resend_delay}",
        *extra_args,
    ]
    if remote_write_receiver:
        args.append("--web.enable-remote-write-receiver")
    process = start_process("prometheus", args, work_dir)
    try:
        wait_until_ready(process, f"http://{HOST}:{port}/-/ready", timeout)
    except BaseException:
        process.stop()
        raise
    return Prometheus(process=process, port=port, config_path=config_path)


@contextlib.contextmanager
def run_prometheus(work_dir: Path, **options: Any) -> Iterator[Prometheus]:
    """``start_prometheus`` as a context manager; same keyword options."""
    prometheus = start_prometheus(work_dir, **options)
    try:
        yield prometheus
    finally:
        prometheus.stop()


def promql(url: str, query: str, at: float | None = None) -> list[dict[str, Any]]:
    """Instant query; returns the ``result`` list (vector: ``metric`` + ``value``)."""
    params = {"query": query}
    if at is not None:
        params["time"] = str(at)
    full = f"{url.rstrip('/')}/api/v1/query?{urllib.parse.urlencode(params)}"
    status, body = http_get(full)
    try:
        payload = json.loads(body)
    except ValueError as error:
        raise StackError(f"PromQL {query!r}: HTTP {status}, not JSON: {body[:200]!r}") from error
    if status != 200 or payload.get("status") != "success":
        raise StackError(f"PromQL {query!r} failed: HTTP {status}: {payload}")
    result: list[dict[str, Any]] = payload["data"]["result"]
    return result


def promql_scalar(url: str, query: str) -> float | None:
    """The single value of a one-element vector, ``None`` for an empty result."""
    result = promql(url, query)
    if not result:
        return None
    if len(result) != 1:
        raise StackError(f"PromQL {query!r} returned {len(result)} series, expected 1: {result}")
    return float(result[0]["value"][1])


def wait_for_promql(url: str, query: str, expected: float, timeout: float = 60.0) -> None:
    """Poll until ``query`` yields exactly ``expected``; the error shows the last value."""
    last: list[float | None] = [None]

    def matches() -> bool:
        last[0] = promql_scalar(url, query)
        return last[0] == expected

    try:
        wait_for(matches, timeout, f"{query} == {expected}", interval=0.5)
    except StackError as error:
        raise StackError(f"{error}; last value: {last[0]}") from None


# -- Alertmanager and a webhook receiver --------------------------------------


@dataclass
class WebhookReceiver:
    """An HTTP server in a thread that records Alertmanager webhook payloads."""

    server: ThreadingHTTPServer
    thread: threading.Thread
    notifications: list[dict[str, Any]] = field(default_factory=list)
    _cond: threading.Condition = field(default_factory=threading.Condition)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.server.server_address[1]}/alerts"

    def record(self, payload: dict[str, Any]) -> None:
        with self._cond:
            self.notifications.append(payload)
            self._cond.notify_all()

    def alerts(self) -> list[dict[str, Any]]:
        """Every alert of every notification received so far."""
        with self._cond:
            return [alert for n in self.notifications for alert in n.get("alerts", [])]

    def wait_for_alert(
        self, alertname: str, status: str = "firing", timeout: float = 60.0
    ) -> dict[str, Any]:
        """The first alert named ``alertname`` with ``status``; raises after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for notification in self.notifications:
                    for alert in notification.get("alerts", []):
                        if (
                            alert.get("labels", {}).get("alertname") == alertname
                            and alert.get("status") == status
                        ):
                            return dict(alert)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = sorted(
                        {
                            f"{a.get('labels', {}).get('alertname')}:{a.get('status')}"
                            for n in self.notifications
                            for a in n.get("alerts", [])
                        }
                    )
                    raise StackError(
                        f"no {status} {alertname} alert reached the webhook in {timeout:.0f}s; "
                        f"received: {seen or 'nothing'}"
                    )
                self._cond.wait(min(remaining, 0.5))

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@contextlib.contextmanager
def run_webhook_receiver() -> Iterator[WebhookReceiver]:
    holder: list[WebhookReceiver] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            try:
                payload = json.loads(body)
            except ValueError:
                self.send_response(400)
                self.end_headers()
                return
            holder[0].record(payload)
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return  # keep test output clean

    server = ThreadingHTTPServer((HOST, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, name="webhook", daemon=True)
    receiver = WebhookReceiver(server=server, thread=thread)
    holder.append(receiver)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.stop()


@dataclass
class Alertmanager:
    process: ManagedProcess
    port: int
    config_path: Path

    @property
    def address(self) -> str:
        """``host:port``, for Prometheus's alerting config."""
        return f"{HOST}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def alerts(self) -> list[dict[str, Any]]:
        status, body = http_get(f"{self.url}/api/v2/alerts")
        if status != 200:
            raise self.process.failure(f"/api/v2/alerts answered HTTP {status}")
        result: list[dict[str, Any]] = json.loads(body)
        return result

    def stop(self, timeout: float = 15.0) -> int:
        return self.process.stop(timeout)


def alertmanager_config(
    webhook_url: str, *, group_wait: str = "1s", group_interval: str = "1s"
) -> dict[str, Any]:
    """alerts/alertmanager.yml with its webhook URL replaced and test timings.

    Alertmanager 0.25 does not read environment variables in its config, so the
    shipped file is the template: every ``webhook_configs`` URL becomes
    ``webhook_url``.
    """
    config: dict[str, Any] = yaml.safe_load(ALERTMANAGER_TEMPLATE.read_text())
    hooks = [
        hook
        for receiver in config.get("receivers", [])
        for hook in receiver.get("webhook_configs", [])
    ]
    if not hooks:
        raise StackError(f"{ALERTMANAGER_TEMPLATE} has no webhook_configs to point at the test")
    for hook in hooks:
        hook["url"] = webhook_url
    config["route"]["group_wait"] = group_wait
    config["route"]["group_interval"] = group_interval
    return config


def start_alertmanager(
    work_dir: Path,
    webhook_url: str,
    *,
    group_wait: str = "1s",
    group_interval: str = "1s",
    timeout: float = DEFAULT_READY_TIMEOUT,
) -> Alertmanager:
    binary = alertmanager_binary()
    work_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config_path = work_dir / "alertmanager.yml"
    config = alertmanager_config(webhook_url, group_wait=group_wait, group_interval=group_interval)
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    args = [
        str(binary),
        f"--config.file={config_path}",
        f"--storage.path={work_dir / 'data'}",
        f"--web.listen-address={HOST}:{port}",
        "--cluster.listen-address=",  # no gossip port on 0.0.0.0:9094
    ]
    process = start_process("alertmanager", args, work_dir)
    try:
        wait_until_ready(process, f"http://{HOST}:{port}/-/ready", timeout)
    except BaseException:
        process.stop()
        raise
    return Alertmanager(process=process, port=port, config_path=config_path)


@contextlib.contextmanager
def run_alertmanager(work_dir: Path, webhook_url: str, **options: Any) -> Iterator[Alertmanager]:
    alertmanager = start_alertmanager(work_dir, webhook_url, **options)
    try:
        yield alertmanager
    finally:
        alertmanager.stop()
