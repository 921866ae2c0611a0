"""Per-request CPU overhead of each instrumentation variant over bare FastAPI.

Each variant runs in its own subprocess (providers and patches never leak between
variants) next to a bare copy of the same app. For variants that only touch their
own app, batches of the bare and the instrumented app alternate in that process,
so every overhead is a paired difference measured seconds apart. Variants that
patch libraries process-wide (``variants.GLOBAL``: Logfire, Sentry, Datadog) would
instrument the bare copy too: their process measures the bare app first, then
installs the tracer and measures the variant. Variants are interleaved across
rounds; the reported figure is the median of all differences.

CPU is ``time.process_time`` (every thread of the process: exporter threads
count), and each instrumented batch ends with a flush, so the export of the
batch's spans is charged to it. Spans go to the sink process.

    python benchmarks/bench_http.py [--quick] [--variants a,b] [--json out.json]
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

from _common import PATHS, ROUTES, Sinks, median, run_batch
from variants import GLOBAL, LABELS, VARIANTS, build


def worker(variant: str, n: int, batches: int, n_routes: int = 0) -> dict[str, Any]:
    bare, _, _ = build("bare", n_routes)
    loop = asyncio.new_event_loop()
    out: dict[str, Any] = {"bare": {}, "variant": {}, "diff": {}}

    def measure(target: Any, route: str, flush: Any) -> float:
        return loop.run_until_complete(run_batch(target, PATHS[route], n, flush)) * 1e6

    def warm(target: Any) -> None:  # imports, caches, first series, exporter connections
        for route in ROUTES:
            loop.run_until_complete(run_batch(target, PATHS[route], 100, None))

    warm(bare)
    if variant in GLOBAL:
        bare_runs = {r: [measure(bare, r, None) for _ in range(batches)] for r in ROUTES}
        app, flush, series = build(variant, n_routes)
        warm(app)
        for route in ROUTES:
            for b in range(batches):
                v = measure(app, route, flush)
                r = bare_runs[route][b]
                out["bare"].setdefault(route, []).append(r)
                out["variant"].setdefault(route, []).append(v)
                out["diff"].setdefault(route, []).append(v - r)
    else:
        app, flush, series = build(variant, n_routes)
        warm(app)
        for b in range(batches):
            for route in ROUTES:
                if b % 2:
                    v = measure(app, route, flush)
                    r = measure(bare, route, None)
                else:
                    r = measure(bare, route, None)
                    v = measure(app, route, flush)
                out["bare"].setdefault(route, []).append(r)
                out["variant"].setdefault(route, []).append(v)
                out["diff"].setdefault(route, []).append(v - r)
    if flush is not None:
        flush()
    if series is not None:
        out["series"] = series()
    return out


def spawn(variant: str, n: int, batches: int, env: dict[str, str], n_routes: int = 0) -> Any:
    cmd = [
        sys.executable,
        os.path.abspath(__file__),
        "--worker",
        variant,
        "--n",
        str(n),
        "--batches",
        str(batches),
        "--routes-extra",
        str(n_routes),
    ]
    proc = subprocess.run(
        cmd, env={**os.environ, **env}, capture_output=True, text=True, timeout=1200, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"worker {variant} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(quick: bool = False, variants: tuple[str, ...] = VARIANTS) -> dict[str, Any]:
    rounds, n, batches = (1, 150, 3) if quick else (3, 250, 4)
    sinks = Sinks()
    diffs: dict[str, dict[str, list[float]]] = {v: {r: [] for r in ROUTES} for v in variants}
    bare: dict[str, list[float]] = {r: [] for r in ROUTES}
    absolute: dict[str, dict[str, list[float]]] = {v: {r: [] for r in ROUTES} for v in variants}
    series: dict[str, Any] = {}
    received: dict[str, dict[str, int]] = {}
    t0 = time.monotonic()
    try:
        for rnd in range(rounds):
            order = list(variants)
            random.Random(rnd).shuffle(order)
            for variant in order:
                before = sinks.stats()
                res = spawn(variant, n, batches, sinks.env())
                after = sinks.stats()
                got = {k: after.get(k, 0) - before.get(k, 0) for k in after}
                received[variant] = {k: v for k, v in got.items() if v}
                for route in ROUTES:
                    diffs[variant][route] += res["diff"][route]
                    bare[route] += res["bare"][route]
                    absolute[variant][route] += res["variant"][route]
                if "series" in res:
                    series[variant] = res["series"]
                print(
                    f"  [http] round {rnd + 1}/{rounds} {variant:16s} "
                    + " ".join(f"{r}={median(res['diff'][r]):+8.1f}µs" for r in ROUTES)
                    + f"  ({time.monotonic() - t0:.0f}s)",
                    flush=True,
                )
    finally:
        sinks.stop()
    return {
        "params": {"rounds": rounds, "requests_per_batch": n, "batches": batches},
        "bare_us": {r: median(bare[r]) for r in ROUTES},
        "overhead_us": {v: {r: median(diffs[v][r]) for r in ROUTES} for v in variants},
        "instrumented_us": {v: {r: median(absolute[v][r]) for r in ROUTES} for v in variants},
        "samples": {v: len(diffs[v][ROUTES[0]]) for v in variants},
        "series": series,
        "received_by_sink": received,
        "labels": {v: LABELS[v] for v in ("bare", *variants)},
    }


def table(result: dict[str, Any]) -> str:
    over = result["overhead_us"]
    bare = result["bare_us"]
    ref = "contrib" if "contrib" in over else None
    lines = [
        "| variant | "
        + " | ".join(f"{r} route: µs (x contrib)" for r in ROUTES)
        + " | spans received by the sink (last round) |",
        "|---|" + "---|" * (len(ROUTES) + 1),
        "| bare FastAPI (absolute CPU µs/request) | "
        + " | ".join(f"{bare[r]:.0f}" for r in ROUTES)
        + " | |",
    ]
    for v, routes in over.items():
        cells = []
        for r in ROUTES:
            ratio = f" ({routes[r] / over[ref][r]:.2f})" if ref and over[ref][r] > 0 else ""
            cells.append(f"+{routes[r]:.1f}{ratio}")
        got = result.get("received_by_sink", {}).get(v, {})
        spans = ", ".join(f"{k} {n}" for k, n in sorted(got.items()) if "request" not in k)
        lines.append(f"| {result['labels'][v]} | " + " | ".join(cells) + f" | {spans} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker")
    parser.add_argument("--n", type=int, default=250)
    parser.add_argument("--batches", type=int, default=4)
    parser.add_argument("--routes-extra", type=int, default=0)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--json")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.n, args.batches, args.routes_extra)))
        return
    result = run(args.quick, tuple(args.variants.split(",")))
    print(table(result))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
