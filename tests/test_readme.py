"""The README's tables in step with the code: the layout table lists every module of the
package and nothing else; the configuration table is the variables table."""

from __future__ import annotations

import re
from pathlib import Path

from azora_otel._env import Variable
from azora_otel._variables import VARIABLES

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


def _markdown_default(row: Variable[object]) -> str:
    if row.default_doc is not None:
        return row.default_doc
    return "unset" if row.unset_by_default else f"`{row.kind.show(row.default)}`"


def _configuration_rows() -> list[tuple[str, str, str]]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Configuration\n", 1)[1]
    table = section.lstrip("\n").split("\n\n", 1)[0]  # the first table of the section
    return re.findall(r"^\| `([A-Z0-9_]+)` \| (.*?) \| (.+?) \|$", table, flags=re.MULTILINE)


def test_the_configuration_table_is_the_variables_table():
    """Every variable the distro reads, in the table's order, with its default and doc."""
    expected = [(row.name, _markdown_default(row), row.doc) for row in VARIABLES]
    assert _configuration_rows() == expected
