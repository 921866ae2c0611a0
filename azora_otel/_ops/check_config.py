"""``azora-otel check-config``: validate the environment before deploying it."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from dataclasses import fields

from azora_otel._settings import Settings
from azora_otel._variables import VARIABLES


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "check-config",
        help="validate PERF_*/AZORA_*/OTEL_* settings; exit 1 on an invalid value",
        description="Parse the environment the way the distro does, print every variable "
        "it reads and the effective settings, and exit 1 if any value is invalid (the "
        "distro itself warns and uses the default).",
    )
    parser.set_defaults(func=run)


def given(environ: Mapping[str, str]) -> list[str]:
    """One line per row of the variables table: the value as given, or its default."""
    lines = []
    for row in VARIABLES:
        raw = environ.get(row.name)
        if raw is None:
            shown = "unset" if row.unset_by_default else f"unset (default {row.shown_default})"
        elif row.secret:
            shown = "set (not shown)"
        else:
            shown = repr(raw)
        lines.append(f"{row.name:40} {shown}")
    return lines


def run(_args: argparse.Namespace) -> int:
    settings = Settings.from_env(os.environ)
    print("variables:")
    for line in given(os.environ):
        print(f"  {line}")
    print("settings:")
    for field in fields(settings):
        if field.name != "problems":
            print(f"  {field.name:26} {getattr(settings, field.name)!r}")
    for problem in settings.problems:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if settings.problems else 0
