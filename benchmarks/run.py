"""Run every benchmark and write ``benchmarks/results.md`` and ``benchmarks/results.json``.

    python benchmarks/run.py            # full run (``nox -s bench``)
    python benchmarks/run.py --quick    # smoke run (``nox -s bench -- --quick``)
    python benchmarks/run.py --only http,db
    python benchmarks/run.py --only profile   # + callgrind stage profile (slow, optional)
    python benchmarks/run.py --only uvicorn --reuse benchmarks/results.json   # re-run a part

Parts: ``sdk`` (building-block costs), ``http`` (per-request overhead of every variant
and anchor over bare FastAPI, three routes), ``db`` (per-query overhead),
``scaling`` (routes, label sets, memory and series after 10,000 paths), ``uvicorn``
(throughput through a real server driven by wrk), and on demand ``profile``
(instructions per request and query for each stage of the span path, under
callgrind). Numbers are CPU time, medians of paired or interleaved measurements;
compare ratios from one run, not absolutes across runs. Spans are really exported,
to a sink process on 127.0.0.1 (``sinks.py``) whose CPU is not counted.
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

import bench_db
import bench_http
import bench_scaling
import bench_sdk
import bench_uvicorn
from _common import ROUTES, machine, versions

HERE = os.path.dirname(os.path.abspath(__file__))
PARTS = ("sdk", "http", "db", "scaling", "uvicorn")
OPTIONAL = ("profile",)
ANCHORS = ("logfire", "sentry", "ddtrace")
PK = "pk select, 100-row table"


def _verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def goals(results: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(goal, measured, verdict) for every goal of the span path, from this run."""
    rows: list[tuple[str, str, str]] = []
    http = results.get("http")
    if http:
        over = http["overhead_us"]
        full, metrics = over.get("azora_full"), over.get("azora_metrics")
        if full and "contrib" in over:
            ratios = [full[r] / over["contrib"][r] for r in ROUTES]
            rows.append(
                (
                    "full mode per request ≤ 0.25 x stock contrib OTel",
                    " / ".join(f"{x:.2f}" for x in ratios) + " (" + " / ".join(ROUTES) + ")",
                    _verdict(all(x <= 0.25 for x in ratios)),
                )
            )
        for anchor in ANCHORS:
            if full and anchor in over:
                ratios = [full[r] / over[anchor][r] for r in ROUTES]
                rows.append(
                    (
                        f"full mode per request below {http['labels'][anchor]}",
                        " / ".join(f"{x:.2f}" for x in ratios) + " x",
                        _verdict(all(x < 1 for x in ratios)),
                    )
                )
        for variant, what in (("azora_ratio", "1 % sampled"), ("azora_off", "always_off")):
            if metrics and variant in over:
                deltas = [over[variant][r] - metrics[r] for r in ROUTES]
                rows.append(
                    (
                        f"unsampled request ({what}) within 3 µs of metrics-only",
                        " / ".join(f"{d:+.1f} µs" for d in deltas),
                        _verdict(all(d <= 3 for d in deltas)),
                    )
                )
    db = results.get("db")
    if isinstance(db, dict):
        over = db["overhead_us"]
        for statement in over:
            o = over[statement]
            stock = o["stock SQLAlchemy instrumentation"]
            rows.append(
                (
                    f"full mode per SQL statement ≤ 0.6 x stock SQLAlchemy instrumentation "
                    f"({statement})",
                    f"{o['azora full'] / stock:.2f}",
                    _verdict(o["azora full"] / stock <= 0.6),
                )
            )
            for variant in ("azora unsampled (1 %)", "azora always_off"):
                delta = o[variant] - o["azora metrics-only"]
                rows.append(
                    (
                        f"unsampled query ({variant[6:]}) within 3 µs of metrics-only "
                        f"({statement})",
                        f"{delta:+.1f} µs",
                        _verdict(delta <= 3),
                    )
                )
    uv = results.get("uvicorn")
    if uv and "bare" in uv["rps"]:
        rps = uv["rps"]
        for variant, floor in (("azora_metrics", 0.9), ("azora_full", 0.65)):
            if variant in rps:
                ratio = rps[variant] / rps["bare"]
                rows.append(
                    (
                        f"uvicorn + wrk: {variant[6:]} throughput ≥ {floor} x bare",
                        f"{ratio:.2f}",
                        _verdict(ratio >= floor),
                    )
                )
    return rows


def _profile(quick: bool) -> dict[str, Any]:
    out = os.path.join(HERE, "profile.json")
    args = ["--n", "200" if quick else "500", "--json", out]
    subprocess.run(
        [sys.executable, os.path.join(HERE, "callgrind_breakdown.py"), *args], check=True
    )
    with open(out) as f:
        return dict(json.load(f))


def _header(results: dict[str, Any], quick: bool) -> list[str]:
    m = results["machine"]
    return [
        "# Benchmark results",
        "",
        f"Run {results['when']}{' (--quick)' if quick else ''}. Machine: {m['cpus']} CPUs, "
        f"{m['cpu']}, {m['os']}, load average at start {m['load']}.",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in results["versions"].items()) + ".",
        "",
    ]


def render(results: dict[str, Any]) -> list[str]:
    """``results.md`` from the parts present in ``results``, the goals table first."""
    md = _header(results, results.get("quick", False))
    rows = goals(results)
    if rows:
        md += [
            "## Goals (ratios from this run)",
            "",
            "| goal | measured | |",
            "|---|---|---|",
            *(f"| {g} | {m} | {v} |" for g, m, v in rows),
            "",
        ]
    if "sdk" in results:
        md += ["## Building blocks (µs per call, median)", "", "| what | µs |", "|---|---|"]
        md += [f"| {k} | {v:.2f} |" for k, v in results["sdk"].items()]
        md.append("")
    if "http" in results:
        md += [
            "## Per-request CPU overhead over bare FastAPI (µs, median of paired batches)",
            "",
            "Routes: trivial async (`async`), sync route running one SQL query (`db`: the "
            "variants that cover SQLAlchemy trace or count it too), route raising an "
            "exception (`error`). In brackets: this overhead / stock contrib OTel's, same "
            "route, same run. Spans received: what the sink decoded from the variant's "
            "process (last round).",
            "",
            bench_http.table(results["http"]),
            "",
        ]
    if "db" in results:
        db = results["db"]
        p = db["params"]
        md += [
            f"## Per-query CPU overhead (SQLAlchemy {db['sqlalchemy']}, in-memory SQLite, "
            f"median of {p['rounds']} rounds x {p['queries']} queries)",
            "",
            bench_db.table(db),
            "",
            f"Spans received by the sink: {db['received_by_sink']}.",
            "",
        ]
    if "scaling" in results:
        md += [
            "## Cost as the work grows",
            "",
            "Overhead (µs/request over bare, same routes) vs routes declared before the "
            "measured one, and vs distinct label sets (requests cycling over K routes of a "
            "1000-route app); then memory and series after 10,000 distinct paths.",
            "",
            bench_scaling.tables(results["scaling"]),
            "",
        ]
    if "uvicorn" in results:
        uv = results["uvicorn"]
        p = uv["params"]
        md += [
            f"## Through uvicorn (one worker, loopback, `{p['load_generator']} "
            f"-c{p['connections']}` on `{p['path']}`, {p['seconds']:.0f} s x "
            f"{p['rounds']} rounds)",
            "",
            bench_uvicorn.table(uv),
            "",
        ]
    if "profile" in results:
        md += ["## Instructions per operation by stage (callgrind)", ""]
        md += ["```", json.dumps(results["profile"], indent=1), "```", ""]
    if "seconds" in results:
        md.append(f"Total benchmark time: {results['seconds']:.0f} s.")
    return md


def _run_part(part: str, quick: bool) -> Any:
    if part == "sdk":
        return bench_sdk.run(quick)
    if part == "http":
        return bench_http.run(quick)
    if part == "db":
        rounds, queries = (3, 1000) if quick else (9, 3000)
        return bench_db.run(rounds, queries)
    if part == "scaling":
        return bench_scaling.run(quick)
    if part == "uvicorn":
        return bench_uvicorn.run(quick)
    return _profile(quick)


TITLES = {
    "sdk": "building blocks",
    "http": "per-request overhead over bare FastAPI (each variant in its process)",
    "db": "per-query overhead",
    "scaling": "scaling",
    "uvicorn": "uvicorn throughput (wrk)",
    "profile": "callgrind stage profile (slow)",
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default=",".join(PARTS), help=f"of {PARTS + OPTIONAL}")
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    parser.add_argument(
        "--reuse", help="a results.json whose other parts are kept (re-run some parts only)"
    )
    args = parser.parse_args()
    parts = args.only.split(",")
    t0 = time.monotonic()
    results: dict[str, Any] = {}
    if args.reuse:
        with open(args.reuse) as f:
            results = {k: v for k, v in json.load(f).items() if k not in parts}
        results["reused"] = sorted(set(results) & set(PARTS + OPTIONAL))
    results.update(
        {
            "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "quick": args.quick,
            "machine": machine(),
            "versions": versions(),
        }
    )
    try:
        for part in (p for p in PARTS + OPTIONAL if p in parts):
            print(f"== {TITLES[part]}", flush=True)
            results[part] = _run_part(part, args.quick)
    finally:  # a failing part keeps what the others measured
        results["seconds"] = (
            time.monotonic() - t0 + (results.get("seconds", 0.0) if args.reuse else 0.0)
        )
        md = render(results)
        with open(args.out + ".md", "w") as f:
            f.write("\n".join(md) + "\n")
        with open(args.out + ".json", "w") as f:
            json.dump(results, f, indent=2)
    print("\n".join(md))
    print(f"wrote {args.out}.md and {args.out}.json", flush=True)


if __name__ == "__main__":
    main()
