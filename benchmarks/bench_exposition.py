"""What the exposition rework costs: per request (exemplars) and per scrape (render).

    git archive <older-commit> azora_otel | tar -x -C /tmp/azora-before
    python benchmarks/bench_exposition.py --before /tmp/azora-before [--quick]

Per request: ``bench_http``'s paired measurement (each variant in its own worker
process, batches alternating with bare FastAPI, variants interleaved over rounds),
run for the current package and for the package found in ``--before`` (put first
on ``PYTHONPATH`` of its workers), in the same run:

- metrics-only mode (``OTEL_TRACES_EXPORTER=none``): no exemplar work either way;
- tracing on (spans over OTLP/HTTP to a local sink, every request sampled): now the
  latency histogram samples an exemplar per request (trace-based filter), before it
  did not; ``now, exemplars off`` sets ``OTEL_METRICS_EXEMPLAR_FILTER=always_off``.

Per recorded request, in isolation: CPU time of ``RequestRecorder.record`` (what the
middleware calls once per request: the latency histogram, where exemplars are sampled,
and the counters), for the same cases, in worker processes interleaved over rounds.
On a busy machine the HTTP figures above move by tens of microseconds between rounds;
this one isolates the few microseconds exemplars can cost.

Exemplar cost, paired: one process builds two distros with tracing on, one with the
trace-based exemplar filter and one with ``always_off``, and alternates batches of
``record`` inside a sampled span; the figure is the median paired difference.

Per scrape: wall time of one render of an exposition of about 1,000 series.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import random
import subprocess
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import ROUTES, Sinks, median

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = {
    "metrics-only, before": ("azora_metrics", True, {}),
    "metrics-only, now": ("azora_metrics", False, {}),
    "tracing on, before (no exemplars)": ("azora_full", True, {}),
    "tracing on, now (exemplars)": ("azora_full", False, {}),
    "tracing on, now, exemplars off": (
        "azora_full",
        False,
        {"OTEL_METRICS_EXEMPLAR_FILTER": "always_off"},
    ),
}


def request_recorder(telemetry: Any) -> Any:
    """``RequestRecorder.record(method, route, status, duration_ms)``; the trees this
    compares against (``--before``) took a fifth argument, ``failed``."""
    record = telemetry.requests.record
    if len(inspect.signature(record).parameters) == 5:
        return lambda method, route, status, duration: record(
            method, route, status, duration, status >= 500
        )
    return record


def _env(before: str | None, old: bool, extra: dict[str, str], endpoint: str) -> dict[str, str]:
    env = dict(os.environ, BENCH_OTLP_ENDPOINT=endpoint, **extra)
    if old:
        assert before is not None
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [before, env.get("PYTHONPATH")]))
    return env


def _worker(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, *args], env=env, capture_output=True, text=True, timeout=900, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"worker {args} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def per_request(before: str, quick: bool) -> dict[str, dict[str, float]]:
    rounds, n, batches = (2, 150, 3) if quick else (3, 300, 5)
    sinks = Sinks()
    endpoint = sinks.http
    diffs: dict[str, dict[str, list[float]]] = {c: {r: [] for r in ROUTES} for c in CASES}
    try:
        for rnd in range(rounds):
            order = list(CASES)
            random.Random(rnd).shuffle(order)
            for case in order:
                variant, old, extra = CASES[case]
                args = [os.path.join(HERE, "bench_http.py"), "--worker", variant]
                args += ["--n", str(n), "--batches", str(batches)]
                res = _worker(args, _env(before, old, extra, endpoint))
                for route in ROUTES:
                    diffs[case][route] += res["diff"][route]
                print(
                    f"  [exposition] round {rnd + 1}/{rounds} {case:34s} "
                    + " ".join(f"{r}={median(res['diff'][r]):7.1f}µs" for r in ROUTES),
                    flush=True,
                )
    finally:
        sinks.stop()
    return {c: {r: median(diffs[c][r]) for r in ROUTES} for c in CASES}


RECORD_CASES = {
    "metrics-only, before": (True, False, {}),
    "metrics-only, now": (False, False, {}),
    "tracing on, before (no exemplars)": (True, True, {}),
    "tracing on, now (exemplars)": (False, True, {}),
    "tracing on, now, exemplars off": (
        False,
        True,
        {"OTEL_METRICS_EXEMPLAR_FILTER": "always_off"},
    ),
}


def record_worker(tracing: bool, n: int = 20_000, batches: int = 7) -> dict[str, Any]:
    """CPU µs per ``RequestRecorder.record`` call, inside a sampled span when tracing."""
    import contextlib

    from opentelemetry.sdk.trace import TracerProvider

    from azora_otel import Settings, Telemetry

    settings = Settings.from_env({"AZORA_LOG_FORMAT": "off"})
    tracer_provider = TracerProvider() if tracing else None
    telemetry = Telemetry.build(settings, tracer_provider=tracer_provider)
    record = request_recorder(telemetry)
    span: Any = (
        tracer_provider.get_tracer("bench").start_as_current_span("request")
        if tracer_provider is not None
        else contextlib.nullcontext()
    )
    per_call = []
    with span:
        for i in range(500):  # warm-up: label sets, caches
            record("GET", "/items/{item_id}", 200, float(i % 90))
        for _ in range(batches):
            t0 = time.process_time()
            for i in range(n):
                record("GET", "/items/{item_id}", 200, float(i % 90))
            per_call.append((time.process_time() - t0) / n * 1e6)
    return {"us": median(per_call)}


def per_record(before: str, quick: bool, rounds: int = 5) -> dict[str, float]:
    rounds = 2 if quick else rounds
    results: dict[str, list[float]] = {c: [] for c in RECORD_CASES}
    for rnd in range(rounds):
        order = list(RECORD_CASES)
        random.Random(100 + rnd).shuffle(order)
        for case in order:
            old, tracing, extra = RECORD_CASES[case]
            args = [os.path.abspath(__file__), "--record-worker"]
            args += ["--tracing"] if tracing else []
            results[case].append(_worker(args, _env(before, old, extra, ""))["us"])
    return {c: median(v) for c, v in results.items()}


def pair_worker(n: int = 5000, batches: int = 40) -> dict[str, Any]:
    """Median paired CPU difference per ``record``: exemplars on minus off, same process."""
    from opentelemetry.sdk.trace import TracerProvider

    from azora_otel import Settings, Telemetry

    settings = Settings.from_env({"AZORA_LOG_FORMAT": "off"})
    no_exemplars = Settings.from_env(
        {"AZORA_LOG_FORMAT": "off", "OTEL_METRICS_EXEMPLAR_FILTER": "always_off"}
    )
    tracer_provider = TracerProvider()
    on = Telemetry.build(settings, tracer_provider=tracer_provider)
    off = Telemetry.build(no_exemplars, tracer_provider=tracer_provider)
    diffs, ons, offs = [], [], []
    with tracer_provider.get_tracer("bench").start_as_current_span("request"):
        for telemetry in (on, off):
            for i in range(500):
                request_recorder(telemetry)("GET", "/items/{item_id}", 200, float(i % 90))
        for batch in range(batches):
            order = [("on", on), ("off", off)] if batch % 2 else [("off", off), ("on", on)]
            cost = {}
            for name, telemetry in order:
                record = request_recorder(telemetry)
                t0 = time.process_time()
                for i in range(n):
                    record("GET", "/items/{item_id}", 200, float(i % 90))
                cost[name] = (time.process_time() - t0) / n * 1e6
            diffs.append(cost["on"] - cost["off"])
            ons.append(cost["on"])
            offs.append(cost["off"])
    return {"on": median(ons), "off": median(offs), "diff": median(diffs)}


def render_worker() -> dict[str, Any]:
    """Render time of an exposition of ~1,000 series (50 routes x 2 statuses)."""
    import azora_otel
    from azora_otel import Settings, Telemetry

    telemetry = Telemetry.build(Settings.from_env({"AZORA_LOG_FORMAT": "off"}))
    for route in range(50):
        for status in (200, 500):
            request_recorder(telemetry)("GET", f"/r{route}/{{id}}", status, 12.0)
    text = azora_otel.get_metrics(telemetry)
    times = []
    for _ in range(40):
        t0 = time.perf_counter()
        azora_otel.get_metrics(telemetry)
        times.append((time.perf_counter() - t0) * 1000)
    samples = sum(1 for line in text.splitlines() if line and not line.startswith("#"))
    return {"ms": median(times), "samples": samples, "bytes": len(text.encode())}


def per_scrape(before: str) -> dict[str, dict[str, Any]]:
    out = {}
    for label, old in (("before", True), ("now", False)):
        env = _env(before, old, {}, "")
        out[label] = _worker([os.path.abspath(__file__), "--render-worker"], env)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", help="directory holding an older azora_otel package")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--render-worker", action="store_true")
    parser.add_argument("--record-worker", action="store_true")
    parser.add_argument("--pair-worker", action="store_true")
    parser.add_argument("--tracing", action="store_true")
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--record-rounds", type=int, default=5)
    parser.add_argument("--json")
    args = parser.parse_args()
    if args.render_worker:
        print(json.dumps(render_worker()))
        return
    if args.pair_worker:
        print(json.dumps(pair_worker()))
        return
    if args.record_worker:
        print(json.dumps(record_worker(args.tracing)))
        return
    if not args.before or not os.path.isdir(os.path.join(args.before, "azora_otel")):
        parser.error("--before must be a directory holding an azora_otel package")
    requests = {} if args.skip_http else per_request(args.before, args.quick)
    records = per_record(args.before, args.quick, args.record_rounds)
    scrapes = per_scrape(args.before)
    pair = _worker([os.path.abspath(__file__), "--pair-worker"], dict(os.environ))
    header = " | ".join(f"{r} route, µs/request over bare" for r in ROUTES)
    print(f"| case | {header} | record() alone, µs |")
    print("|---|" + "---|" * (len(ROUTES) + 1))
    for case, us in records.items():
        http = " | ".join(f"+{requests[case][r]:.1f}" if requests else "" for r in ROUTES)
        print(f"| {case} | {http} | {us:.2f} |")
    print()
    print(
        f"exemplars, paired in one process: record() {pair['on']:.2f} µs with, "
        f"{pair['off']:.2f} µs without: +{pair['diff']:.2f} µs per recorded request"
    )
    for label, res in scrapes.items():
        ms, samples, size = res["ms"], res["samples"], res["bytes"]
        print(f"render, {label}: {ms:.2f} ms for {samples} samples ({size} B)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    "per_request_us": requests,
                    "record_us": records,
                    "exemplar_pair_us": pair,
                    "render": scrapes,
                },
                f,
                indent=2,
            )


if __name__ == "__main__":
    main()
