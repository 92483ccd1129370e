"""The package's modules import one another in one direction: no circle, even through the
imports inside functions (a circle works until someone moves an import, then breaks)."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

PACKAGE = Path(__file__).parents[1] / "src" / "sonicdreams"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The package's modules that ``path`` imports, anywhere in its code."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:  # `from . import x` may name a module
                if f"{target}.{alias.name}" in modules:
                    found.add(f"{target}.{alias.name}")
            if target in modules:
                found.add(target)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in modules)
    found.discard(name)
    return found


def _graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {_module_name(p) for p in paths}
    graph = {}
    for p in paths:
        # A package's __init__ importing its own submodules is not a circle of its own.
        name = _module_name(p)
        graph[name] = {m for m in _imports(p, modules) if not name.startswith(m + ".")
                       and not (p.name == "__init__.py" and m.startswith(name + "."))}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as err:
        return list(err.args[1])
    return None


def test_the_graph_sees_imports_inside_functions():
    graph = _graph()
    assert "sonicdreams.generators.stylegan" in graph["sonicdreams.generators.styles"]
    assert "sonicdreams.generators.catalog" in graph["sonicdreams.generators.stylegan.load"]


def test_modules_import_each_other_in_one_direction():
    cycle = _cycle(_graph())
    assert cycle is None, " -> ".join(cycle)
