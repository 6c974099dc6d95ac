"""No import cycles in the engine or the app: each module can be read, tested and moved on its own.

A cycle (a imports b, b imports a, directly or through others; lazy imports inside
functions count too) is what makes a layer impossible to split out later.
"""

from __future__ import annotations

import grimp
import pytest


def import_cycles(package: str) -> list[list[str]]:
    """Groups of modules of `package` that import each other (strongly connected)."""
    graph = grimp.build_graph(package, include_external_packages=False)
    modules = sorted(graph.modules)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(module: str) -> None:  # Tarjan's algorithm
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for module in modules:
        if module not in index:
            visit(module)
    return cycles


def test_the_check_finds_a_cycle(tmp_path, monkeypatch):
    package = tmp_path / "circle"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from circle import b\n")
    (package / "b.py").write_text("def f():\n    from circle import a\n")
    (package / "c.py").write_text("from circle import a\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert import_cycles("circle") == [["circle.a", "circle.b"]]


@pytest.mark.parametrize("package", ["engine", "gui"])
def test_no_import_cycles(package):
    assert import_cycles(package) == []
