"""The package's import graph: the runtime never imports the ops tools, and nothing cycles.

Read from the source with ``ast``, so every ``import`` counts: module level,
inside functions, and under ``if TYPE_CHECKING:`` (a cycle hidden in a function
body or in type hints is still a cycle in the design).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "azora_otel"
TOOLS = "azora_otel._ops"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _resolve(importer: str, node: ast.Import | ast.ImportFrom) -> set[str]:
    """The project modules ``node`` (in module ``importer``) imports."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name in MODULES}
    base = node.module or ""
    if node.level:  # relative: from the package holding ``importer``, up ``level - 1``
        parts = importer.split(".")
        if MODULES[importer].name != "__init__.py":
            parts.pop()
        parts = parts[: len(parts) - node.level + 1]
        base = ".".join([*parts, base] if base else parts)
    found = set()
    for alias in node.names:
        submodule = f"{base}.{alias.name}"
        if submodule in MODULES:
            found.add(submodule)  # from azora_otel import _state
        elif base in MODULES:
            found.add(base)
    return found


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import | ast.ImportFrom):
                edges |= _resolve(name, node)
        graph[name] = edges - {name}
    return graph


def _is_tool(module: str) -> bool:
    return module == TOOLS or module.startswith(TOOLS + ".")


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_is_read_from_every_module():
    graph = _graph()
    assert "azora_otel._telemetry" in graph["azora_otel._state"]
    # function-level imports count: the launcher imports upstream code lazily, and the
    # graph sees the project imports made the same way
    assert graph["azora_otel"] >= {"azora_otel._setup", "azora_otel._settings"}


def test_the_runtime_never_imports_the_tools():
    offenders = {
        module: sorted(target for target in targets if _is_tool(target))
        for module, targets in _graph().items()
        if not _is_tool(module)
    }
    assert {m: t for m, t in offenders.items() if t} == {}


def test_no_import_cycle():
    assert _cycles(_graph()) == []


def test_the_cycle_finder_finds_cycles():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_importing_the_package_loads_no_tool_module():
    code = "import sys, json, azora_otel; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    loaded = json.loads(done.stdout)
    assert "azora_otel._setup" in loaded  # the check sees the package's own modules
    assert [m for m in loaded if _is_tool(m)] == []
    assert "tomllib" not in loaded  # budgets files are the tools' business


MODULE_LINES = 350
"""About 300 lines a module; the OTLP encoder (one wire format, field by field) is the
largest at about 340."""
FUNCTION_LINES = 60


def test_modules_and_functions_stay_small() -> None:
    too_long = []
    for name, path in MODULES.items():
        source = path.read_text()
        if source.count("\n") > MODULE_LINES:
            too_long.append(f"{name}: {source.count(chr(10))} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > FUNCTION_LINES:
                    too_long.append(f"{name}.{node.name}: {length} lines")
    assert too_long == []
