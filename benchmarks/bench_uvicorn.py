"""Throughput through a real server: uvicorn (one worker, loopback) per variant, driven by
``wrk`` (Debian's package; ``scripts/install-system-deps.sh`` installs it).

For each variant: start uvicorn serving ``_server_app:app`` (``BENCH_VARIANT`` picks
the instrumentation), warm it up, then ``wrk -t1 -c16`` on ``GET /items/42`` for a
fixed time. Reported: requests/s (wrk's count), and the server process's CPU per
request read from ``/proc/<pid>/stat`` (the client's and the sink's CPU do not
count). Variants are interleaved across rounds; medians are reported.

    python benchmarks/bench_uvicorn.py [--quick] [--variants a,b] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import Sinks, median
from variants import LABELS

from azora_otel.testing import free_port

VARIANTS = (
    "bare",
    "azora_metrics",
    "azora_full",
    "azora_ratio",
    "contrib",
    "logfire",
    "sentry",
    "ddtrace",
    "pfi",
)
PATH = "/items/42"
_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime + stime


def _wrk() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise RuntimeError(
            "wrk is not installed: run scripts/install-system-deps.sh (or apt-get install -y wrk)"
        )
    return found


def _load(port: int, seconds: float, connections: int) -> int:
    """Requests completed by wrk in ``seconds`` (non-2xx answers would be reported)."""
    proc = subprocess.run(
        [
            _wrk(),
            "-t1",
            f"-c{connections}",
            f"-d{seconds:g}s",
            f"http://127.0.0.1:{port}{PATH}",
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    )
    done = re.search(r"(\d+) requests in", proc.stdout)
    if done is None or "Non-2xx" in proc.stdout or "Socket errors" in proc.stdout:
        raise RuntimeError(f"wrk reported a problem:\n{proc.stdout}")
    return int(done.group(1))


def _wait_ready(port: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("uvicorn exited")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("uvicorn did not start")


def measure(variant: str, env: dict[str, str], seconds: float, connections: int) -> Any:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "_server_app:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        cwd=os.path.dirname(os.path.abspath(__file__)),
        env={**os.environ, **env, "BENCH_VARIANT": variant},
    )
    try:
        _wait_ready(port, proc)
        _load(port, 1.0, connections)  # warm-up: imports, caches, exporter connections
        cpu0 = _cpu_seconds(proc.pid)
        t0 = time.monotonic()
        n = _load(port, seconds, connections)
        elapsed = time.monotonic() - t0
        cpu = _cpu_seconds(proc.pid) - cpu0
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    # wrk runs for `seconds`; the CPU window also spans its start-up and the last replies.
    return {"rps": n / seconds, "cpu_us": cpu / n * 1e6, "requests": n, "wall_s": elapsed}


def run(quick: bool = False, variants: tuple[str, ...] = VARIANTS) -> dict[str, Any]:
    rounds, seconds, connections = (1, 3.0, 16) if quick else (3, 8.0, 16)
    _wrk()
    sinks = Sinks()
    rps: dict[str, list[float]] = {v: [] for v in variants}
    cpu: dict[str, list[float]] = {v: [] for v in variants}
    t0 = time.monotonic()
    try:
        for rnd in range(rounds):
            order = list(variants)
            random.Random(100 + rnd).shuffle(order)
            for v in order:
                m = measure(v, sinks.env(), seconds, connections)
                rps[v].append(m["rps"])
                cpu[v].append(m["cpu_us"])
                print(
                    f"  [uvicorn] round {rnd + 1}/{rounds} {v:14s} {m['rps']:7.0f} req/s "
                    f"{m['cpu_us']:6.0f} µs server CPU/request  ({time.monotonic() - t0:.0f}s)",
                    flush=True,
                )
        received = sinks.stats()
    finally:
        sinks.stop()
    return {
        "rps": {v: median(x) for v, x in rps.items()},
        "cpu_us": {v: median(x) for v, x in cpu.items()},
        "params": {
            "rounds": rounds,
            "seconds": seconds,
            "connections": connections,
            "load_generator": "wrk -t1",
            "path": PATH,
        },
        "received_by_sink": received,
    }


def table(result: dict[str, Any]) -> str:
    rps, cpu = result["rps"], result["cpu_us"]
    base_rps, base_cpu = rps.get("bare"), cpu.get("bare")
    lines = [
        "| variant | req/s | vs bare | server CPU µs/request | overhead µs |",
        "|---|---|---|---|---|",
    ]
    for v in rps:
        rel = f"{rps[v] / base_rps:.2f}" if base_rps else "-"
        over = f"+{cpu[v] - base_cpu:.0f}" if base_cpu and v != "bare" else "-"
        lines.append(f"| {LABELS[v]} | {rps[v]:.0f} | {rel} | {cpu[v]:.0f} | {over} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--json")
    args = parser.parse_args()
    result = run(args.quick, tuple(args.variants.split(",")))
    print(table(result))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
