"""The README's layout table lists every module of the package, and nothing else."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "azora_otel"


def _layout_rows() -> list[tuple[str, str]]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("\n### Layout\n", 1)[1].split("\n#", 1)[0]
    return re.findall(r"^\| `(azora_otel/[^`]+)` \| (.+?) \|$", section, flags=re.MULTILINE)


def test_the_layout_table_lists_every_module_once_with_a_role():
    rows = _layout_rows()
    listed = [path for path, _ in rows]
    modules = sorted(str(p.relative_to(REPO)) for p in PACKAGE.rglob("*.py"))
    assert sorted(listed) == modules
    assert len(set(listed)) == len(listed)
    assert all(role.strip() for _, role in rows)


def test_the_tools_are_listed_after_the_runtime():
    listed = [path for path, _ in _layout_rows()]
    first_tool = next(i for i, path in enumerate(listed) if path.startswith("azora_otel/_ops/"))
    assert all(path.startswith("azora_otel/_ops/") for path in listed[first_tool:])
