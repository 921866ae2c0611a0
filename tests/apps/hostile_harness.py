"""Shared by the hostile/load/fork/fault tests and ``reliability/run.py``.

- a raw HTTP/1.1 client over asyncio sockets: sends any bytes as method and
  target (httpx would normalise them), keep-alive, bounded concurrency, and
  records each request's status and latency;
- starting ``tests/apps/hostile_app.py`` under ``azora-otel-instrument`` (uvicorn
  or gunicorn);
- reading the service's resident memory (``VmRSS``) and the exposition's series.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

import stack  # noqa: E402

APPS = Path(__file__).resolve().parent
BIN_DIR = Path(sys.executable).parent
LAUNCHER = str(BIN_DIR / "azora-otel-instrument")
HOST = "127.0.0.1"

Request = tuple[bytes, bytes, Sequence[tuple[bytes, bytes]]]
"""``(method, target, extra headers)``, all raw bytes."""


# -- raw HTTP client -------------------------------------------------------------


@dataclass
class Results:
    statuses: Counter[int] = field(default_factory=Counter)
    latencies_s: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    """Transport failures (connection reset, timeout...), by exception type."""
    bodies: Counter[bytes] = field(default_factory=Counter)
    """Response bodies, when ``send_all(..., keep_bodies=True)``."""

    @property
    def sent(self) -> int:
        return sum(self.statuses.values()) + sum(self.errors.values())

    def quantile(self, q: float) -> float:
        ordered = sorted(self.latencies_s)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def encode(method: bytes, target: bytes, headers: Sequence[tuple[bytes, bytes]] = ()) -> bytes:
    lines = [method + b" " + target + b" HTTP/1.1", b"host: 127.0.0.1"]
    lines += [name + b": " + value for name, value in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n"


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool, bytes]:
    """Reads one response; returns (status, the server closes the connection, body)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = 0
    close = False
    chunked = False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        value = value.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection" and value == b"close":
            close = True
        elif name == b"transfer-encoding" and b"chunked" in value:
            chunked = True
    body = b""
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
            body += (await reader.readexactly(size + 2))[:-2]
            if size == 0:
                break
    elif length:
        body = await reader.readexactly(length)
    return status, close, body


async def _worker(
    port: int,
    queue: list[Request],
    results: Results,
    timeout_s: float,
    deadline: float,
    keep_bodies: bool,
) -> None:
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    while queue and time.monotonic() < deadline:
        method, target, headers = queue.pop()
        started = time.perf_counter()
        try:
            if writer is None:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(HOST, port), timeout_s
                )
            assert reader is not None
            writer.write(encode(method, target, headers))
            await writer.drain()
            status, close, body = await asyncio.wait_for(_read_response(reader), timeout_s)
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
            results.errors[type(exc).__name__] += 1
            close = True
        else:
            results.statuses[status] += 1
            # uvicorn closes a keep-alive connection after an unhandled exception
            # without saying so: a request sent on it next would be reset unread.
            close = close or status >= 500
            results.latencies_s.append(time.perf_counter() - started)
            if keep_bodies:
                results.bodies[body] += 1
        if close and writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            reader = writer = None
    if writer is not None:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


def send_all(
    port: int,
    requests: Sequence[Request],
    concurrency: int = 1,
    *,
    timeout_s: float = 30.0,
    budget_s: float = 600.0,
    keep_bodies: bool = False,
) -> Results:
    """Send every request over ``concurrency`` keep-alive connections; never raises
    for transport errors (they are counted in ``Results.errors``)."""
    queue = list(reversed(requests))
    results = Results()

    async def main() -> None:
        deadline = time.monotonic() + budget_s
        await asyncio.gather(
            *(
                _worker(port, queue, results, timeout_s, deadline, keep_bodies)
                for _ in range(concurrency)
            )
        )

    asyncio.run(main())
    return results


def get(port: int, target: str, headers: Sequence[tuple[bytes, bytes]] = ()) -> int:
    results = send_all(port, [(b"GET", target.encode(), headers)])
    assert not results.errors, results.errors
    return next(iter(results.statuses))


# -- the service -------------------------------------------------------------------


@dataclass
class Service:
    process: stack.ManagedProcess
    port: int
    metrics_port: int | None = None

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.port}"

    def scrape(self, path: str = "/metrics") -> str:
        port = self.metrics_port or self.port
        with urllib.request.urlopen(f"http://{HOST}:{port}{path}", timeout=30) as response:
            return str(response.read().decode())

    def scrape_counted(self, total: int, path: str = "/metrics", timeout: float = 60.0) -> str:
        """Scrape until the exposition has counted ``total`` requests (or more). A request
        is recorded on the server's side after its last byte went out: a scrape sent
        right after the client got its answer can come first."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.scrape(path)
            if sum(requests_by(text).values()) >= total or time.monotonic() > deadline:
                return text
            time.sleep(0.1)

    def rss_kb(self) -> int:
        return vm_rss_kb(self.process.pid)

    def log(self) -> str:
        return self.process.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 30.0) -> int:
        return self.process.stop(timeout)


def uvicorn_command(port: int, app: str = "hostile_app:app") -> list[str]:
    return [
        sys.executable, "-m", "uvicorn", app, "--app-dir", str(APPS), "--host", HOST,
        "--port", str(port), "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip


def gunicorn_command(port: int, workers: int, *, preload: bool) -> list[str]:
    command = [
        str(BIN_DIR / "gunicorn"), "hostile_app:app", "--pythonpath", str(APPS),
        "-k", "uvicorn.workers.UvicornWorker", "-w", str(workers), "-b", f"{HOST}:{port}",
        "--graceful-timeout", "20", "--log-level", "warning",
    ]  # fmt: skip
    if preload:
        command.append("--preload")
    return command


def start_service(
    work_dir: Path,
    command: Sequence[str],
    port: int,
    env: Mapping[str, str] | None = None,
    *,
    name: str = "service",
    metrics_port: int | None = None,
    wait_port: int | None = None,
) -> Service:
    """Run ``command`` under ``azora-otel-instrument``; wait until its port accepts."""
    full_env = {
        "PATH": f"{BIN_DIR}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(APPS),
        "OTEL_SERVICE_NAME": name,
        "OTEL_TRACES_EXPORTER": "none",
        **(env or {}),
    }
    process = stack.start_process(name, [LAUNCHER, *command], work_dir, env=full_env)
    try:
        stack.wait_for_port(process, wait_port or port, timeout=60)
    except BaseException:
        process.stop()
        raise
    return Service(process=process, port=port, metrics_port=metrics_port)


# -- measurements ------------------------------------------------------------------


def vm_rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """``{sorted label pairs: value}`` of every sample called ``name`` in an exposition."""
    from prometheus_client.parser import text_string_to_metric_families

    found: dict[tuple[tuple[str, str], ...], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def requests_by(text: str, *keys: str) -> Counter[tuple[str, ...]]:
    """``http_requests_total`` summed by the given label keys."""
    totals: Counter[tuple[str, ...]] = Counter()
    for labels, value in samples(text, "http_requests_total").items():
        as_dict = dict(labels)
        totals[tuple(as_dict.get(k, "") for k in keys)] += int(value)
    return totals


def series_count(text: str) -> int:
    """Number of distinct series (samples) in an exposition, comments excluded."""
    return sum(1 for line in text.splitlines() if line and not line.startswith("#"))


def collector_requests(collector: stack.Collector, job: str) -> tuple[int, set[str]]:
    """Sum of ``http_requests_total`` for ``job`` in the collector's exposition, and the
    ``instance`` label values it came from (0 and nothing when the scrape fails)."""
    try:
        text = collector.scrape()
    except (OSError, stack.StackError):
        return 0, set()
    total = 0
    instances = set()
    for labels, value in samples(text, "http_requests_total").items():
        as_dict = dict(labels)
        if as_dict.get("job") == job:
            total += int(value)
            instances.add(as_dict.get("instance", ""))
    return total, instances


def wait_for_collector_total(
    collector: stack.Collector, job: str, expected: int, timeout: float = 60.0
) -> set[str]:
    """Poll the collector until ``job``'s request total is exactly ``expected``."""
    last: list[int] = [0]
    instances: list[set[str]] = [set()]

    def reached() -> bool:
        last[0], instances[0] = collector_requests(collector, job)
        return last[0] == expected

    try:
        stack.wait_for(reached, timeout, f"{job} total == {expected}", interval=0.5)
    except stack.StackError as error:
        raise stack.StackError(f"{error}; last total {last[0]}") from None
    return instances[0]


def otlp_env(collector_ports: stack.CollectorPorts, interval_ms: int = 1000) -> dict[str, str]:
    """Push metrics over OTLP/HTTP to a collector on ``collector_ports`` (running or not)."""
    return {
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{HOST}:{collector_ports.otlp_http}",
        "OTEL_METRIC_EXPORT_INTERVAL": str(interval_ms),
    }


@contextlib.contextmanager
def black_hole(port: int) -> Iterator[list[socket.socket]]:
    """A TCP listener on ``port`` that accepts every connection and never answers."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((HOST, port))
    listener.listen(64)
    listener.settimeout(0.2)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set() and len(held) < 1000:
            with contextlib.suppress(OSError):
                held.append(listener.accept()[0])

    thread = threading.Thread(target=accept, name="black-hole", daemon=True)
    thread.start()
    try:
        yield held
    finally:
        stop.set()
        thread.join(5)
        for conn in held:
            conn.close()
        listener.close()
