"""No import cycle between bids_lrp's packages (imports inside functions count too).

A unit is a top-level module or package of ``bids_lrp`` (``cli``, ``group``, ``reports``,
``config``, ...). An import from one unit into another is an edge; a cycle means neither unit
can be understood, tested or replaced without the other.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "bids_lrp"


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def import_graph(package: Path = PACKAGE) -> dict[str, dict[str, list[str]]]:
    """unit -> imported unit -> the places (``module:line``) that import it."""
    graph: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for path in sorted(package.rglob("*.py")):
        module = ".".join(path.relative_to(package.parent).with_suffix("").parts)
        module = module.removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                targets = [node.module]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                continue
            for target in targets:
                if not target.startswith("bids_lrp."):
                    continue
                source, imported = _unit(module), _unit(target)
                if source and imported and source != imported:
                    graph[source][imported].append(f"{module}:{node.lineno}")
    return graph


def cycles(graph: dict[str, dict[str, list[str]]]) -> list[list[str]]:
    """The strongly connected groups of more than one unit (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(unit: str) -> None:
        index[unit] = low[unit] = len(index)
        stack.append(unit)
        for other in graph.get(unit, {}):
            if other not in index:
                visit(other)
                low[unit] = min(low[unit], low[other])
            elif other in stack:
                low[unit] = min(low[unit], index[other])
        if low[unit] == index[unit]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == unit:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for unit in sorted(graph):
        if unit not in index:
            visit(unit)
    return found


def test_no_package_imports_another_that_imports_it_back():
    graph = import_graph()
    found = cycles(graph)
    detail = [
        f"{a} -> {b} ({', '.join(graph[a][b][:3])})"
        for group in found
        for a in group
        for b in group
        if b in graph.get(a, {})
    ]
    assert found == [], detail


def test_the_check_sees_a_cycle(tmp_path):
    package = tmp_path / "bids_lrp"
    (package / "a").mkdir(parents=True)
    (package / "a" / "x.py").write_text("def f():\n    from bids_lrp.b import y\n")
    (package / "b.py").write_text("from bids_lrp.a.x import f\n")
    (package / "c.py").write_text("import bids_lrp.b\n")
    assert cycles(import_graph(package)) == [["a", "b"]]
