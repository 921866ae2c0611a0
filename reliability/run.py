"""Reliability figures: load, hostile input, pre-fork workers, exporter faults.

    python reliability/run.py            # everything, about 6 minutes on 2 cores
    python reliability/run.py --quick    # smaller sizes, about 2 minutes (smoke check)
    python reliability/run.py --only load,faults

Starts real processes on 127.0.0.1 (the example service ``tests/apps/hostile_app.py``
under ``azora-otel-instrument``, uvicorn or gunicorn, and the otelcol-azora
collector built by ``collector/build.sh``), prints progress on stderr and writes
``reliability/results.md``. Every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import random
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "apps"))

import hostile_harness as harness  # noqa: E402
import stack  # noqa: E402
from test_hostile_requests import random_path  # noqa: E402
from test_load import traffic  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results.md"
EXPORT_MARKERS = ("Failed to export", "Transient error", "Queue full", "Exception while")


def say(message: str) -> None:
    print(f"[reliability] {message}", file=sys.stderr, flush=True)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


# -- load ---------------------------------------------------------------------------


def load(work: Path, size: int) -> dict[str, Any]:
    port = stack.free_port()
    service = harness.start_service(work / "load", harness.uvicorn_command(port), port,
                                    name="load")  # fmt: skip
    try:
        harness.send_all(port, [(b"GET", b"/health", ())] * 500, concurrency=10)  # warm-up
        rss_before = service.rss_kb()
        requests, expected = traffic(size)
        say(f"load: {size} requests at concurrency 50")
        started = time.monotonic()
        results = harness.send_all(port, requests, concurrency=50, budget_s=900)
        elapsed = time.monotonic() - started
        rss_after = service.rss_kb()
        text = service.scrape()
    finally:
        service.stop()
    counted = harness.requests_by(text, "method", "route", "status_code")
    counted[("GET", "/health", "200")] -= 500
    return {
        "sent": size,
        "answered": sum(results.statuses.values()),
        "transport_errors": sum(results.errors.values()),
        "counted": sum(counted.values()),
        "exact": counted == expected,
        "series": len(counted),
        "samples": harness.series_count(text),
        "rss_before_kb": rss_before,
        "rss_after_kb": rss_after,
        "seconds": elapsed,
        "rps": size / elapsed,
        "p50_ms": ms(results.quantile(0.5)),
        "p99_ms": ms(results.quantile(0.99)),
    }


# -- hostile --------------------------------------------------------------------------


def hostile(work: Path, size: int) -> dict[str, Any]:
    port = stack.free_port()
    service = harness.start_service(work / "hostile", harness.uvicorn_command(port), port,
                                    name="hostile")  # fmt: skip
    rng = random.Random(7)  # noqa: S311 - reproducible traffic, not crypto
    try:
        harness.send_all(port, [(b"GET", random_path(rng), ()) for _ in range(1000)], 4)
        before_text = service.scrape()
        rss_before = service.rss_kb()
        requests: list[harness.Request] = [(b"GET", random_path(rng), ()) for _ in range(size)]
        requests += [(m, b"/items/1", ()) for m in (b"BREW", b"M" * 8000, b"get", b"PROPFIND")]
        requests += [(b"GET", b"/health", [(b"x-big", b"v" * 60_000)])]
        say(f"hostile: {len(requests)} random/non-UTF-8 paths, odd methods, huge headers")
        results = harness.send_all(port, requests, concurrency=8)
        rss_after = service.rss_kb()
        text = service.scrape()
    finally:
        service.stop()
    before = harness.requests_by(before_text, "method", "route", "status_code")
    after = harness.requests_by(text, "method", "route", "status_code")
    refused = results.statuses[400] + results.statuses[431]
    return {
        "sent": len(requests),
        "statuses": dict(sorted(results.statuses.items())),
        "refused_by_server": refused,
        "counted": sum(after.values()) - sum(before.values()),
        "exact": sum(after.values()) - sum(before.values()) == len(requests) - refused,
        "series": sorted(" ".join(k) for k in after),
        "rss_before_kb": rss_before,
        "rss_after_kb": rss_after,
    }


# -- fork -----------------------------------------------------------------------------


def fork(work: Path, size: int) -> list[dict[str, Any]]:
    rows = []
    with stack.run_collector(work / "fork-collector") as collector:
        for preload in (True, False):
            port = stack.free_port()
            job = f"fork-{'preload' if preload else 'plain'}"
            service = harness.start_service(
                work / job, harness.gunicorn_command(port, 3, preload=preload), port,
                harness.otlp_env(collector.ports), name=job,
            )  # fmt: skip
            try:
                say(f"{job}: {size} requests over gunicorn -w 3")
                pids: set[int] = set()
                sent = 0
                while sent < size:
                    batch = min(500, size - sent)
                    results = harness.send_all(
                        port, [(b"GET", b"/pid", ())] * batch, concurrency=20, keep_bodies=True
                    )
                    sent += batch
                    pids |= {json.loads(body)["pid"] for body in results.bodies}
                instances = harness.wait_for_collector_total(collector, job, sent, timeout=90)
                total, _ = harness.collector_requests(collector, job)
            finally:
                service.stop()
            rows.append(
                {
                    "mode": "--preload" if preload else "no preload",
                    "sent": sent,
                    "counted": total,
                    "workers": len(pids),
                    "instances": len(instances),
                }
            )
    return rows


# -- exporter faults --------------------------------------------------------------------


def drive(port: int, seconds: float, latencies: list[float], rss: Callable[[], None]) -> int:
    """Closed-loop traffic (4 connections, batches of 200) for ``seconds``."""
    sent = 0
    deadline = time.monotonic() + seconds
    next_sample = time.monotonic()
    while time.monotonic() < deadline and sent < 200_000:
        results = harness.send_all(port, [(b"GET", b"/items/1", ())] * 200, concurrency=4)
        if results.errors or set(results.statuses) != {200}:
            raise RuntimeError(f"requests failed: {results.statuses} {results.errors}")
        latencies.extend(results.latencies_s)
        sent += 200
        if time.monotonic() >= next_sample:
            rss()
            next_sample += 5
        time.sleep(0.1)
    return sent


def fault(work: Path, kind: str, seconds: float) -> dict[str, Any]:
    ports = stack.CollectorPorts.pick()
    job = f"fault-{kind}"
    env = {**harness.otlp_env(ports, interval_ms=1000), "OTEL_TRACES_EXPORTER": "otlp"}
    collector = None
    if kind != "unreachable":
        collector = stack.start_collector(work / job / "collector", ports=ports)
    port = stack.free_port()
    service = harness.start_service(work / job, harness.uvicorn_command(port), port, env,
                                    name=job)  # fmt: skip
    latencies: list[float] = []
    rss: list[int] = []
    sample = lambda: rss.append(service.rss_kb())  # noqa: E731
    hole: contextlib.AbstractContextManager[list[socket.socket]] = contextlib.nullcontext([])
    try:
        sent = drive(port, 3, [], lambda: None)  # warm-up, not measured
        say(f"{job}: {seconds:.0f} s of traffic under the fault")
        if kind in ("killed", "black-hole") and collector is not None:
            collector.process.stop(sig=9)
            collector = None
        if kind == "black-hole":
            hole = harness.black_hole(ports.otlp_http)
        with hole as held:
            sent += drive(port, seconds, latencies, sample)
            held_connections = len(held)
        sample()
        recovered_in = 0.0
        if collector is None:
            collector = stack.start_collector(work / job / "collector", ports=ports,
                                              name="otelcol-restarted")  # fmt: skip
        started = time.monotonic()
        harness.wait_for_collector_total(collector, job, sent, timeout=120)
        recovered_in = time.monotonic() - started
        total, _ = harness.collector_requests(collector, job)
    finally:
        service.stop()
        if collector is not None:
            collector.stop()
    log_lines = [
        line for line in service.log().splitlines() if any(m in line for m in EXPORT_MARKERS)
    ]
    ordered = sorted(latencies)
    return {
        "fault": kind,
        "seconds": seconds,
        "sent": sent,
        "counted": total,
        "recovered_in_s": round(recovered_in, 1),
        "p50_s": ordered[len(ordered) // 2],
        "p99_s": ordered[int(len(ordered) * 0.99)],
        "rss_kb": rss,
        "export_log_lines": len(log_lines),
        "held_connections": held_connections,
    }


# -- report -------------------------------------------------------------------------------


def report(results: dict[str, Any], args: argparse.Namespace) -> str:
    out = [
        "# Reliability figures",
        "",
        f"Produced by `python reliability/run.py{' --quick' if args.quick else ''}` on "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.python_version()}, "
        f"{platform.machine()}, {__import__('os').cpu_count()} CPUs (shared). "
        "Everything on 127.0.0.1.",
        "",
    ]
    if "load" in results:
        r = results["load"]
        out += [
            "## Load (uvicorn, one process, concurrency 50)",
            "",
            "| requests sent | answered | counted in /metrics | exact per method/route/status "
            "| series | RSS before → after | throughput | p50 / p99 |",
            "|---|---|---|---|---|---|---|---|",
            f"| {r['sent']:,} | {r['answered']:,} | {r['counted']:,} | {r['exact']} "
            f"| {r['series']} ({r['samples']} samples) "
            f"| {r['rss_before_kb'] / 1024:.1f} → {r['rss_after_kb'] / 1024:.1f} MiB "
            f"| {r['rps']:.0f} req/s | {r['p50_ms']} / {r['p99_ms']} ms |",
            "",
        ]
    if "hostile" in results:
        r = results["hostile"]
        out += [
            "## Hostile requests (uvicorn)",
            "",
            "Random, non-UTF-8 and percent-encoded paths, dot segments, 4,000-byte paths, "
            "unknown and 8,000-byte methods, a 60 kB header.",
            "",
            "| sent | statuses | refused by uvicorn before the app (400) | counted "
            "| exact | series after | RSS before → after |",
            "|---|---|---|---|---|---|---|",
            f"| {r['sent']:,} | {r['statuses']} | {r['refused_by_server']:,} | {r['counted']:,} "
            f"| {r['exact']} | {len(r['series'])}: {', '.join(r['series'])} "
            f"| {r['rss_before_kb'] / 1024:.1f} → {r['rss_after_kb'] / 1024:.1f} MiB |",
            "",
        ]
    if "fork" in results:
        out += [
            "## Pre-fork workers (gunicorn -w 3, uvicorn workers, OTLP → collector)",
            "",
            "| mode | sent | summed over instances at the collector | workers that served "
            "| instance labels |",
            "|---|---|---|---|---|",
        ]
        out += [
            f"| {r['mode']} | {r['sent']:,} | {r['counted']:,} | {r['workers']} "
            f"| {r['instances']} |"
            for r in results["fork"]
        ]
        out.append("")
    if "faults" in results:
        rows = results["faults"]
        base = next(r for r in rows if r["fault"] == "none")
        out += [
            "## Exporter faults (uvicorn, OTLP/HTTP metrics every 1 s + spans, default 10 s "
            "exporter timeout)",
            "",
            "Closed-loop traffic (4 connections) during the fault; then a collector is "
            "(re)started on the same ports and the service is *not* restarted. Latency "
            "ratio = fault / no fault, same traffic.",
            "",
            "| fault | duration | sent | counted after recovery | recovered in | p50 ratio "
            "| p99 ratio | RSS during fault (every ~5 s) | exporter log lines |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in rows:
            rss = " → ".join(f"{v / 1024:.0f}" for v in r["rss_kb"])
            out.append(
                f"| {r['fault']} | {r['seconds']:.0f} s | {r['sent']:,} | {r['counted']:,} "
                f"| {r['recovered_in_s']} s | {r['p50_s'] / base['p50_s']:.2f} "
                f"| {r['p99_s'] / base['p99_s']:.2f} | {rss} MiB | {r['export_log_lines']} |"
            )
        out += [
            "",
            f"No-fault latency: p50 {ms(base['p50_s'])} ms, p99 {ms(base['p99_s'])} ms. "
            "Exporter log lines are rate-limited to one per message per minute "
            "(`azora_otel._logs.RateLimitFilter`).",
            "",
        ]
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (smoke check)")
    parser.add_argument("--only", default="load,hostile,fork,faults")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    only = set(args.only.split(","))
    outage = 8.0 if args.quick else 30.0
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="azora-reliability-") as tmp:
        work = Path(tmp)
        if "load" in only:
            results["load"] = load(work, 10_000 if args.quick else 100_000)
            say(f"load: {results['load']}")
        if "hostile" in only:
            results["hostile"] = hostile(work, 2_000 if args.quick else 10_000)
            say(f"hostile: {results['hostile']}")
        if "fork" in only:
            results["fork"] = fork(work, 600 if args.quick else 3_000)
            say(f"fork: {results['fork']}")
        if "faults" in only:
            results["faults"] = []
            for kind in ("none", "unreachable", "killed", "black-hole"):
                row = fault(work, kind, outage)
                say(f"fault {kind}: {row}")
                results["faults"].append(row)
    text = report(results, args)
    args.output.write_text(text + "\n")
    say(f"wrote {args.output}")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
