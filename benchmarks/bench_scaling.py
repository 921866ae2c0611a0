"""Cost as the work grows.

1. Overhead vs number of routes (10 -> 1000): the app gets N extra routes declared
   before the measured one (routing walks past all of them); the paired overhead
   over the bare app with the same routes should stay flat.
2. Overhead vs distinct label sets: requests cycle over K distinct routes
   (K = 1, 100, 1000), so the instruments see K label sets.
3. Memory and series after 10,000 distinct request paths (5,000 matched
   ``/items/{i}``, 5,000 unmatched ``/scan/{i}``): tracemalloc growth and
   Prometheus series, after the first 200 paths and after 10,000.

    python benchmarks/bench_scaling.py [--quick] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import subprocess
import sys
import time
import tracemalloc
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import Sinks, call, median
from variants import build

ROUTE_COUNTS = (10, 100, 1000)
LABEL_SETS = (1, 100, 1000)
SCALING_VARIANTS = ("azora_metrics", "azora_full", "pfi")
MEMORY_VARIANTS = ("bare", "azora_metrics", "azora_full", "pfi", "contrib")


async def _cycle(app: Any, paths: list[str], n: int, flush: Any) -> float:
    gc.collect()
    t0 = time.process_time()
    k = len(paths)
    for i in range(n):
        await call(app, paths[i % k])
    if flush is not None:
        flush()
    return (time.process_time() - t0) / n


def worker_routes(variant: str, n_routes: int, n: int, batches: int) -> dict[str, Any]:
    """Paired overhead for the measured route behind ``n_routes`` routes, and for
    requests cycling over ``k`` distinct routes (label sets)."""
    bare, _, _ = build("bare", n_routes)
    app, flush, _ = build(variant, n_routes)
    loop = asyncio.new_event_loop()
    out: dict[str, list[float]] = {}
    cases = {"routes": ["/items/42"]}
    if n_routes == max(ROUTE_COUNTS):
        for k in LABEL_SETS:
            cases[f"labels_{k}"] = [f"/extra{i * n_routes // k}/1" for i in range(k)]
    for paths in cases.values():  # warm-up, and every label set seen once
        for target in (bare, app):
            loop.run_until_complete(_cycle(target, paths, max(100, len(paths)), None))
    for b in range(batches):
        for case, paths in cases.items():
            m = max(n, len(paths))
            if b % 2:
                v = loop.run_until_complete(_cycle(app, paths, m, flush))
                r = loop.run_until_complete(_cycle(bare, paths, m, None))
            else:
                r = loop.run_until_complete(_cycle(bare, paths, m, None))
                v = loop.run_until_complete(_cycle(app, paths, m, flush))
            out.setdefault(case, []).append((v - r) * 1e6)
            out.setdefault(case + "_bare", []).append(r * 1e6)
    return out


def worker_memory(variant: str, distinct: int) -> dict[str, Any]:
    app, flush, series = build(variant)
    loop = asyncio.new_event_loop()
    paths = [f"/items/{i}" if i % 2 else f"/scan/{i}" for i in range(distinct)]

    async def drive(chunk: list[str]) -> None:
        for p in chunk:
            await call(app, p)

    loop.run_until_complete(drive(["/items/1", "/scan/1"] * 50))  # warm-up, same paths
    tracemalloc.start()
    loop.run_until_complete(drive(paths[:200]))
    if flush is not None:
        flush()
    gc.collect()
    after_first, _ = tracemalloc.get_traced_memory()
    series_first = series() if series is not None else None
    loop.run_until_complete(drive(paths[200:]))
    if flush is not None:
        flush()
    gc.collect()
    after_all, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "kib_after_200": after_first / 1024,
        "kib_after_all": after_all / 1024,
        "growth_kib": (after_all - after_first) / 1024,
        "series_after_200": series_first,
        "series_after_all": series() if series is not None else None,
        "distinct_paths": distinct,
    }


def _spawn(args: list[str], sink_env: dict[str, str]) -> dict[str, Any]:
    env = {**os.environ, **sink_env}
    proc = subprocess.run(
        [sys.executable, os.path.abspath(__file__), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"worker {args} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(quick: bool = False) -> dict[str, Any]:
    n, batches, rounds = (100, 3, 1) if quick else (200, 5, 2)
    distinct = 10_000
    sinks = Sinks()
    t0 = time.monotonic()
    routes: dict[str, dict[str, list[float]]] = {}
    memory: dict[str, Any] = {}
    try:
        for _ in range(rounds):
            for n_routes in ROUTE_COUNTS:
                for variant in SCALING_VARIANTS:
                    res = _spawn(
                        ["--routes-worker", variant, str(n_routes), str(n), str(batches)],
                        sinks.env(),
                    )
                    for case, values in res.items():
                        key = case if case.startswith("labels") else f"{case}_{n_routes}"
                        routes.setdefault(variant, {}).setdefault(key, []).extend(values)
                    print(
                        f"  [scaling] {variant:14s} {n_routes:5d} routes: "
                        f"+{median(res['routes']):6.1f}µs  ({time.monotonic() - t0:.0f}s)",
                        flush=True,
                    )
        for variant in MEMORY_VARIANTS:
            memory[variant] = _spawn(["--memory-worker", variant, str(distinct)], sinks.env())
            m = memory[variant]
            print(
                f"  [memory] {variant:14s} growth {m['growth_kib']:8.1f} KiB over "
                f"{distinct - 200} new paths, series {m['series_after_200']} -> "
                f"{m['series_after_all']}  ({time.monotonic() - t0:.0f}s)",
                flush=True,
            )
    finally:
        sinks.stop()
    return {
        "overhead_us": {v: {k: median(x) for k, x in cases.items()} for v, cases in routes.items()},
        "memory": memory,
        "params": {"requests_per_batch": n, "batches": batches, "rounds": rounds},
    }


def tables(result: dict[str, Any]) -> str:
    over = result["overhead_us"]
    lines = [
        "| variant | "
        + " | ".join(f"{n} routes" for n in ROUTE_COUNTS)
        + " | "
        + " | ".join(f"{k} label sets" for k in LABEL_SETS)
        + " |",
        "|---|" + "---|" * (len(ROUTE_COUNTS) + len(LABEL_SETS)),
    ]
    first = next(iter(over.values()))
    lines.append(
        "| bare FastAPI (absolute µs) | "
        + " | ".join(
            f"{median([o[f'routes_bare_{n}'] for o in over.values()]):.0f}" for n in ROUTE_COUNTS
        )
        + " | "
        + " | ".join(
            f"{median([o[f'labels_{k}_bare'] for o in over.values()]):.0f}"
            if f"labels_{k}_bare" in first
            else "-"
            for k in LABEL_SETS
        )
        + " |"
    )
    for v, cases in over.items():
        lines.append(
            f"| {v} | "
            + " | ".join(f"+{cases[f'routes_{n}']:.1f}" for n in ROUTE_COUNTS)
            + " | "
            + " | ".join(f"+{cases.get(f'labels_{k}', float('nan')):.1f}" for k in LABEL_SETS)
            + " |"
        )
    lines += [
        "",
        "| variant | traced KiB after 200 paths | growth over the next 9,800 paths (KiB) "
        "| series after 200 | series after 10,000 |",
        "|---|---|---|---|---|",
    ]
    for v, m in result["memory"].items():
        s1 = m["series_after_200"]
        s2 = m["series_after_all"]
        lines.append(
            f"| {v} | {m['kib_after_200']:.0f} | {m['growth_kib']:+.1f} | "
            f"{s1[1] if s1 else '-'} | {s2[1] if s2 else '-'} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--routes-worker", nargs=4)
    parser.add_argument("--memory-worker", nargs=2)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json")
    args = parser.parse_args()
    if args.routes_worker:
        v, n_routes, n, batches = args.routes_worker
        print(json.dumps(worker_routes(v, int(n_routes), int(n), int(batches))))
        return
    if args.memory_worker:
        v, distinct = args.memory_worker
        print(json.dumps(worker_memory(v, int(distinct))))
        return
    result = run(args.quick)
    print(tables(result))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
