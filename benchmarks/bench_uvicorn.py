"""Throughput through a real server: uvicorn (one worker, loopback) per variant.

A small asyncio load generator (raw HTTP/1.1 keep-alive, ``--connections``
concurrent connections) drives ``GET /items/42`` for a fixed time after a
warm-up. Reported: requests/s, and the server process's CPU per request read
from ``/proc/<pid>/stat`` (robust on a shared machine: the client's own CPU and
other people's jobs do not count). Variants are interleaved across rounds.

    python benchmarks/bench_uvicorn.py [--quick] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import free_port, median, start_sink_process

VARIANTS = ("bare", "azora_metrics", "azora_full", "contrib", "native_full", "pfi")
_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime + stime


async def _connection(port: int, path: str, stop: float, counts: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
    done = 0
    try:
        while time.monotonic() < stop:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            if length:
                await reader.readexactly(length)
            done += 1
    finally:
        counts.append(done)
        writer.close()


async def _load(port: int, path: str, seconds: float, connections: int) -> int:
    counts: list[int] = []
    stop = time.monotonic() + seconds
    await asyncio.gather(*(_connection(port, path, stop, counts) for _ in range(connections)))
    return sum(counts)


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


def measure(variant: str, endpoint: str, seconds: float, connections: int) -> dict[str, float]:
    port = free_port()
    env = dict(os.environ, BENCH_VARIANT=variant, BENCH_OTLP_ENDPOINT=endpoint)
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
        env=env,
    )
    try:
        _wait_ready(port, proc)
        asyncio.run(_load(port, "/items/42", 1.0, connections))  # warm-up
        cpu0, t0 = _cpu_seconds(proc.pid), time.monotonic()
        n = asyncio.run(_load(port, "/items/42", seconds, connections))
        cpu1, t1 = _cpu_seconds(proc.pid), time.monotonic()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return {"rps": n / (t1 - t0), "cpu_us": (cpu1 - cpu0) / n * 1e6, "requests": n}


def run(quick: bool = False, variants: tuple[str, ...] = VARIANTS) -> dict[str, Any]:
    rounds, seconds, connections = (1, 3.0, 16) if quick else (3, 5.0, 16)
    sink, endpoint = start_sink_process()
    rps: dict[str, list[float]] = {v: [] for v in variants}
    cpu: dict[str, list[float]] = {v: [] for v in variants}
    t0 = time.monotonic()
    try:
        for rnd in range(rounds):
            order = list(variants)
            random.Random(100 + rnd).shuffle(order)
            for v in order:
                m = measure(v, endpoint, seconds, connections)
                rps[v].append(m["rps"])
                cpu[v].append(m["cpu_us"])
                print(
                    f"  [uvicorn] round {rnd + 1}/{rounds} {v:14s} {m['rps']:7.0f} req/s "
                    f"{m['cpu_us']:6.0f} µs server CPU/request  ({time.monotonic() - t0:.0f}s)",
                    flush=True,
                )
    finally:
        sink.stop()
    return {
        "rps": {v: median(x) for v, x in rps.items()},
        "cpu_us": {v: median(x) for v, x in cpu.items()},
        "params": {"rounds": rounds, "seconds": seconds, "connections": connections},
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
        lines.append(f"| {v} | {rps[v]:.0f} | {rel} | {cpu[v]:.0f} | {over} |")
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
