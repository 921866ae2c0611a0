"""``azora-otel``: the project's command line (rendering, budget checks, config checks).

Each subcommand lives in its own module and exposes ``register(subparsers)``,
which adds its parser and sets ``func`` to a callable ``(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from azora_otel._version import __version__

# Modules that contribute subcommands; each defines ``register(subparsers)``.
_SUBCOMMAND_MODULES: tuple[str, ...] = (
    "azora_otel._settings_cli",
    "azora_otel._render",
    "azora_otel._budget",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="azora-otel",
        description="azora-otel tools: check configuration, render alert rules and "
        "dashboards from the performance budgets, check budgets against live data.",
    )
    parser.add_argument("--version", action="version", version=f"azora-otel {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
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
