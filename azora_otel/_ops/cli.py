"""``azora-otel``: the ops tools' command line (check-config, render, budget).

Each subcommand module exposes ``register(subparsers)``, which adds its parser
and sets ``func`` to a callable ``(args) -> int``. They are imported here by
name: a missing one is an ``ImportError`` at start, never a silently absent
command.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from azora_otel._ops import budget, check_config, render
from azora_otel._version import __version__

SUBCOMMANDS = (check_config, render, budget)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="azora-otel",
        description="azora-otel tools: check configuration, render alert rules and "
        "dashboards from the performance budgets, check budgets against live data.",
    )
    parser.add_argument("--version", action="version", version=f"azora-otel {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in SUBCOMMANDS:
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return 2
    result: int = func(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
