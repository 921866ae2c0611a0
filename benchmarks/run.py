"""Run every benchmark and write ``benchmarks/results.md`` and ``benchmarks/results.json``.

    python benchmarks/run.py            # full run, about 8-10 minutes on 2 cores
    python benchmarks/run.py --quick    # smoke run, under 3 minutes
    python benchmarks/run.py --only http,sdk

Parts: ``sdk`` (building-block costs), ``http`` (per-request overhead of every
variant over bare FastAPI, three routes), ``db`` (``bench_db.py``, when present),
``scaling`` (routes, label sets, memory and series after 10,000 paths),
``uvicorn`` (throughput through a real server). Numbers are CPU time per request,
medians of paired or interleaved measurements; compare ratios, not absolutes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench_http
import bench_scaling
import bench_sdk
import bench_uvicorn
from _common import ROUTES, machine, versions

HERE = os.path.dirname(os.path.abspath(__file__))
PARTS = ("sdk", "http", "db", "scaling", "uvicorn")


def _goals(http: dict[str, Any]) -> list[str]:
    over = http["overhead_us"]
    lines = []
    if "azora_full" in over and "contrib" in over:
        for r in ROUTES:
            ratio = over["azora_full"][r] / over["contrib"][r]
            lines.append(
                f"- full mode / stock contrib OTel, {r} route: {ratio:.2f} "
                f"(goal <= 0.4: {'met' if ratio <= 0.4 else 'NOT met'})"
            )
    if "azora_metrics" in over and "pfi" in over:
        for r in ROUTES:
            ratio = over["azora_metrics"][r] / over["pfi"][r]
            lines.append(
                f"- metrics-only / prometheus-fastapi-instrumentator, {r} route: {ratio:.2f} "
                f"(goal <= 0.7: {'met' if ratio <= 0.7 else 'NOT met'})"
            )
    return lines


def _db(quick: bool) -> str | None:
    path = os.path.join(HERE, "bench_db.py")
    if not os.path.exists(path):
        return None
    args = ["--rounds", "3", "--queries", "1000"] if quick else []
    proc = subprocess.run(
        [sys.executable, path, *args], capture_output=True, text=True, timeout=900, check=False
    )
    if proc.returncode != 0:
        return f"bench_db.py failed:\n\n```\n{proc.stderr[-2000:]}\n```"
    return proc.stdout


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default=",".join(PARTS))
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    args = parser.parse_args()
    parts = args.only.split(",")
    t0 = time.monotonic()
    results: dict[str, Any] = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "quick": args.quick,
        "machine": machine(),
        "versions": versions(),
    }
    md = [
        "# Benchmark results",
        "",
        f"Run {results['when']}{' (--quick)' if args.quick else ''}. "
        f"Machine: {results['machine']['cpus']} CPUs, {results['machine']['cpu']}, "
        f"{results['machine']['os']}, load average at start {results['machine']['load']}.",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in results["versions"].items()) + ".",
        "",
    ]
    try:
        if "sdk" in parts:
            print("== building blocks", flush=True)
            results["sdk"] = bench_sdk.run(args.quick)
            md += ["## Building blocks (µs per call, median)", "", "| what | µs |", "|---|---|"]
            md += [f"| {k} | {v:.2f} |" for k, v in results["sdk"].items()]
            md.append("")
        if "http" in parts:
            print("== per-request overhead over bare FastAPI", flush=True)
            http = bench_http.run(args.quick)
            results["http"] = http
            md += [
                "## Per-request CPU overhead over bare FastAPI (µs, median of paired batches)",
                "",
                "Ratios in brackets: this overhead / stock contrib OTel's, / "
                "prometheus-fastapi-instrumentator's, same route, same run.",
                "",
                bench_http.table(http),
                "",
                "Series exposed in-process after the run (metric families, sample lines): "
                + ", ".join(f"{k} {v[0]} / {v[1]}" for k, v in http["series"].items())
                + ".",
                "",
                "Goals:",
                "",
                *_goals(http),
                "",
            ]
        if "db" in parts:
            print("== database (bench_db.py)", flush=True)
            out = _db(args.quick)
            results["db"] = out
            md += ["## Per-query overhead (benchmarks/bench_db.py)", ""]
            md += [out.strip() if out else "bench_db.py not present.", ""]
        if "scaling" in parts:
            print("== scaling", flush=True)
            scaling = bench_scaling.run(args.quick)
            results["scaling"] = scaling
            md += [
                "## Cost as the work grows",
                "",
                "Overhead (µs/request over bare, same routes) vs routes declared before the "
                "measured one, and vs distinct label sets (requests cycling over K routes of a "
                "1000-route app); then memory and series after 10,000 distinct paths.",
                "",
                bench_scaling.tables(scaling),
                "",
            ]
        if "uvicorn" in parts:
            print("== uvicorn throughput", flush=True)
            uv = bench_uvicorn.run(args.quick)
            results["uvicorn"] = uv
            md += [
                "## Through uvicorn (one worker, loopback, "
                f"{uv['params']['connections']} keep-alive connections, "
                f"{uv['params']['seconds']:.0f} s x {uv['params']['rounds']} rounds)",
                "",
                bench_uvicorn.table(uv),
                "",
            ]
    finally:  # a failing part keeps what the others measured
        md.append(f"Total benchmark time: {time.monotonic() - t0:.0f} s.")
        with open(args.out + ".md", "w") as f:
            f.write("\n".join(md) + "\n")
        with open(args.out + ".json", "w") as f:
            json.dump(results, f, indent=2)
    print("\n".join(md))
    print(f"wrote {args.out}.md and {args.out}.json", flush=True)


if __name__ == "__main__":
    main()
