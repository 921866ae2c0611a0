"""``azora-otel check-config``: validate the environment before deploying it."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import fields

from azora_otel._settings import Settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "check-config",
        help="validate PERF_*/AZORA_*/OTEL_* settings; exit 1 on an invalid value",
        description="Parse the environment the way the distro does, print the effective "
        "settings, and exit 1 if any value is invalid (the distro itself warns and uses "
        "the default).",
    )
    parser.set_defaults(func=run)


def run(_args: argparse.Namespace) -> int:
    settings = Settings.from_env(os.environ)
    for field in fields(settings):
        if field.name != "problems":
            print(f"{field.name:26} {getattr(settings, field.name)!r}")
    for problem in settings.problems:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if settings.problems else 0
