"""Instructions per request and per query for every stage of ``profile_breakdown.py``.

    python benchmarks/callgrind_breakdown.py [--kinds request,query] [--stages ...]
        [--n 500] [--upstream] [--json out.json]

Each stage runs once under ``valgrind --tool=callgrind`` (one process per stage, a
local sink process receiving the spans); the loop's instructions are read from the
dump taken between the two markers. Instruction counts do not depend on what else
the machine is doing, so differences of a few percent are real even on a busy
machine; they are converted to µs with the bare request's measured ratio only as a
rough guide (``--ir-per-us``, default measured once on the project's machine).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import Sinks
from profile_breakdown import ANCHORS, STAGES

HERE = os.path.dirname(os.path.abspath(__file__))


def _loop_instructions(out_dir: str, count: int) -> list[int]:
    """The ``summary`` of every dump taken at an end marker (dumps 2, 4, ...: the loops)."""
    dumps = sorted(
        glob.glob(os.path.join(out_dir, "cg.out.*")), key=lambda p: int(p.rsplit(".", 1)[1])
    )
    if len(dumps) < 2 * count:
        raise RuntimeError(f"expected {2 * count} marker dumps in {out_dir}, found {dumps}")
    found = []
    for path in dumps[1 : 2 * count : 2]:
        with open(path) as f:
            found.append(next(int(line.split()[1]) for line in f if line.startswith("summary:")))
    return found


def measure(
    kind: str, stages: list[str], n: int, upstream: bool, env: dict[str, str]
) -> list[float]:
    with tempfile.TemporaryDirectory() as out_dir:
        cmd = [
            "valgrind",
            "--tool=callgrind",
            "--dump-before=os_getppid",
            "--dump-instr=no",
            "--dump-line=no",
            f"--callgrind-out-file={out_dir}/cg.out",
            sys.executable,
            os.path.join(HERE, "profile_breakdown.py"),
            kind,
            ",".join(stages),
            "--n",
            str(n),
            *(["--upstream"] if upstream else []),
        ]
        proc = subprocess.run(
            cmd, env={**os.environ, **env}, capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            raise RuntimeError(f"{kind} {stages} failed:\n{proc.stderr[-3000:]}")
        return [ir / n for ir in _loop_instructions(out_dir, len(stages))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kinds", default="request,query")
    parser.add_argument("--stages", default=",".join(STAGES + ANCHORS[:1]))
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--upstream", action="store_true")
    parser.add_argument("--route", default="async")
    parser.add_argument("--json")
    args = parser.parse_args()
    sinks = Sinks()
    results: dict[str, dict[str, float]] = {}
    t0 = time.monotonic()
    try:
        for kind in args.kinds.split(","):
            results[kind] = {}
            wanted = [
                s for s in args.stages.split(",") if kind == "request" or s not in ANCHORS[1:]
            ]
            # The distro's stages share one process; each anchor needs a process of its own.
            groups = [[s for s in wanted if s not in ANCHORS]] + [
                [s] for s in wanted if s in ANCHORS
            ]
            for group in (g for g in groups if g):
                env = {**sinks.env(), "BENCH_ROUTE": args.route}
                counted = measure(kind, group, args.n, args.upstream, env)
                for stage, ir in zip(group, counted, strict=True):
                    results[kind][stage] = ir
                    base = results[kind].get("bare")
                    extra = f"  (+{(ir - base) / 1000:7.1f} k over bare)" if base else ""
                    print(
                        f"{kind:8s} {stage:8s} {ir / 1000:8.1f} k instructions/op{extra}"
                        f"  [{time.monotonic() - t0:.0f}s]",
                        flush=True,
                    )
        results["sink"] = {k: float(v) for k, v in sinks.stats().items()}
    finally:
        sinks.stop()
    print(json.dumps(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
