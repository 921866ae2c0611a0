"""Profile one variant's request path.

    python benchmarks/profile_hot_path.py azora_full [--route async] [--n 20000]
        [--pyinstrument out.txt]

Without ``--pyinstrument`` it only drives requests in a loop, for an outside sampler
that also sees the exporter threads::

    py-spy record --rate 500 --format speedscope -o prof.json -- \\
        python benchmarks/profile_hot_path.py azora_full --n 20000
    py-spy top -- python benchmarks/profile_hot_path.py azora_full --n 200000

``--pyinstrument`` samples the main thread (the request path) and writes a text tree.
Spans go to a local OTLP sink process started here.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import PATHS, Sinks, call
from variants import build


async def _drive(app: object, path: str, n: int) -> None:
    for _ in range(n):
        await call(app, path)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("variant")
    parser.add_argument("--route", default="async", choices=sorted(PATHS))
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--pyinstrument")
    args = parser.parse_args()
    sink = Sinks()
    os.environ.update(sink.env())
    try:
        app, flush, _ = build(args.variant)
        loop = asyncio.new_event_loop()
        path = PATHS[args.route]
        loop.run_until_complete(_drive(app, path, 500))
        t0 = time.process_time()
        if args.pyinstrument:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0002)
            profiler.start()
            loop.run_until_complete(_drive(app, path, args.n))
            profiler.stop()
            with open(args.pyinstrument, "w") as f:
                f.write(profiler.output_text(unicode=True, show_all=False))
        else:
            loop.run_until_complete(_drive(app, path, args.n))
        if flush is not None:
            flush()
        cpu = time.process_time() - t0
        print(f"{args.variant} {args.route}: {cpu / args.n * 1e6:.1f} µs CPU/request")
    finally:
        sink.stop()


if __name__ == "__main__":
    main()
