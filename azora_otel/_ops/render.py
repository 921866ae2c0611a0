"""``azora-otel render``: write the alert rules and the dashboard, or check the committed ones.

Both files are pure functions of the targets table (and the runbook URL), so
``--check`` proves the committed copies are what the generator makes: it writes
nothing, prints a diff and exits 1 when they differ.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path

from azora_otel._ops.budgets_file import load_targets
from azora_otel._ops.dashboard import render_dashboard
from azora_otel._ops.rules import DEFAULT_RUNBOOK_URL, render_alert_rules
from azora_otel._ops.targets import Targets

ALERT_RULES_PATH = Path("alerts/alert-rules.yml")
DASHBOARD_PATH = Path("dashboards/performance-dashboard.json")


def render_all(targets: Targets, runbook_url: str = DEFAULT_RUNBOOK_URL) -> dict[Path, str]:
    """Relative path → content of every rendered file."""
    return {
        ALERT_RULES_PATH: render_alert_rules(targets, runbook_url),
        DASHBOARD_PATH: render_dashboard(targets),
    }


def _differs(path: Path, content: str) -> bool:
    current = path.read_text(encoding="utf-8") if path.exists() else ""
    if current == content:
        return False
    sys.stdout.writelines(
        difflib.unified_diff(
            current.splitlines(keepends=True),
            content.splitlines(keepends=True),
            fromfile=f"{path} (committed)",
            tofile=f"{path} (rendered)",
        )
    )
    return True


def run(args: argparse.Namespace) -> int:
    try:
        targets = load_targets(args.targets)
    except (OSError, ValueError) as exc:
        print(f"azora-otel render: cannot read budgets: {exc}", file=sys.stderr)
        return 2
    out_dir = Path(args.out)
    drift = False
    for rel, content in render_all(targets, args.runbook_url).items():
        path = out_dir / rel
        if args.check:
            drift |= _differs(path, content)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
            print(f"wrote {path}")
    if drift:
        print(
            "azora-otel render --check: files differ from the budgets; run `azora-otel render`",
            file=sys.stderr,
        )
        return 1
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "render",
        help="render alert rules and the Grafana dashboard from the performance budgets",
        description="Write alerts/alert-rules.yml and dashboards/performance-dashboard.json "
        "under --out, rendered from the built-in targets table or a --targets file.",
    )
    parser.add_argument("--out", default=".", help="directory to write into (default: .)")
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; print a diff and exit 1 if the files under --out differ",
    )
    parser.add_argument(
        "--targets",
        metavar="FILE",
        help="budgets file (.json or .toml) overriding the built-in targets table",
    )
    parser.add_argument(
        "--runbook-url",
        default=DEFAULT_RUNBOOK_URL,
        help=f"runbook_url annotation of every alert (default: {DEFAULT_RUNBOOK_URL})",
    )
    parser.set_defaults(func=run)
