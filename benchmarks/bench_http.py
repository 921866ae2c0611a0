"""Per-request CPU overhead of each instrumentation variant over bare FastAPI.

Each variant runs in its own subprocess (providers and patches never leak between
variants) next to a bare copy of the same app. Batches of the bare and the
instrumented app alternate in that process, so every overhead is a paired
difference measured seconds apart on the same noisy machine. Variants are
interleaved across rounds; the reported figure is the median of all paired
differences.

    python benchmarks/bench_http.py [--quick] [--json out.json]
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

from _common import PATHS, ROUTES, median, run_batch, start_sink_process
from variants import LABELS, VARIANTS, build


def worker(variant: str, n: int, batches: int, n_routes: int = 0) -> dict[str, Any]:
    bare, _, _ = build("bare", n_routes)
    app, flush, series = build(variant, n_routes)
    loop = asyncio.new_event_loop()
    out: dict[str, Any] = {"bare": {}, "variant": {}, "diff": {}}
    for route in ROUTES:  # warm-up: imports, caches, first series
        for target in (bare, app):
            loop.run_until_complete(run_batch(target, PATHS[route], 100, None))
    for b in range(batches):
        for route in ROUTES:
            path = PATHS[route]
            if b % 2:
                v = loop.run_until_complete(run_batch(app, path, n, flush))
                r = loop.run_until_complete(run_batch(bare, path, n, None))
            else:
                r = loop.run_until_complete(run_batch(bare, path, n, None))
                v = loop.run_until_complete(run_batch(app, path, n, flush))
            out["bare"].setdefault(route, []).append(r * 1e6)
            out["variant"].setdefault(route, []).append(v * 1e6)
            out["diff"].setdefault(route, []).append((v - r) * 1e6)
    if series is not None:
        out["series"] = series()
    return out


def spawn(variant: str, n: int, batches: int, endpoint: str, n_routes: int = 0) -> dict[str, Any]:
    env = dict(os.environ, BENCH_OTLP_ENDPOINT=endpoint)
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
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"worker {variant} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(quick: bool = False, variants: tuple[str, ...] = VARIANTS) -> dict[str, Any]:
    rounds, n, batches = (2, 150, 3) if quick else (3, 300, 5)
    sink, endpoint = start_sink_process()
    diffs: dict[str, dict[str, list[float]]] = {v: {r: [] for r in ROUTES} for v in variants}
    bare: dict[str, list[float]] = {r: [] for r in ROUTES}
    absolute: dict[str, dict[str, list[float]]] = {v: {r: [] for r in ROUTES} for v in variants}
    series: dict[str, Any] = {}
    t0 = time.monotonic()
    try:
        for rnd in range(rounds):
            order = list(variants)
            random.Random(rnd).shuffle(order)
            for variant in order:
                res = spawn(variant, n, batches, endpoint)
                for route in ROUTES:
                    diffs[variant][route] += res["diff"][route]
                    bare[route] += res["bare"][route]
                    absolute[variant][route] += res["variant"][route]
                if "series" in res:
                    series[variant] = res["series"]
                print(
                    f"  [http] round {rnd + 1}/{rounds} {variant:17s} "
                    + " ".join(f"{r}={median(res['diff'][r]):7.1f}µs" for r in ROUTES)
                    + f"  ({time.monotonic() - t0:.0f}s)",
                    flush=True,
                )
    finally:
        sink.stop()
    result: dict[str, Any] = {
        "params": {"rounds": rounds, "requests_per_batch": n, "batches": batches},
        "bare_us": {r: median(bare[r]) for r in ROUTES},
        "overhead_us": {v: {r: median(diffs[v][r]) for r in ROUTES} for v in variants},
        "instrumented_us": {v: {r: median(absolute[v][r]) for r in ROUTES} for v in variants},
        "samples": {v: len(diffs[v][ROUTES[0]]) for v in variants},
        "series": series,
        "labels": LABELS,
    }
    return result


def table(result: dict[str, Any]) -> str:
    over = result["overhead_us"]
    bare = result["bare_us"]
    lines = [
        "| variant | " + " | ".join(f"{r} µs (ratio vs contrib / pfi)" for r in ROUTES) + " |",
        "|---|" + "---|" * len(ROUTES),
        "| bare FastAPI (absolute CPU µs/request) | "
        + " | ".join(f"{bare[r]:.0f}" for r in ROUTES)
        + " |",
    ]
    for v, routes in over.items():
        cells = []
        for r in ROUTES:
            ratio = []
            if "contrib" in over and over["contrib"][r] > 0:
                ratio.append(f"{routes[r] / over['contrib'][r]:.2f}")
            if "pfi" in over and over["pfi"][r] > 0:
                ratio.append(f"{routes[r] / over['pfi'][r]:.2f}")
            cells.append(f"+{routes[r]:.1f} ({' / '.join(ratio)})")
        lines.append(f"| {LABELS[v]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker")
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--batches", type=int, default=5)
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
