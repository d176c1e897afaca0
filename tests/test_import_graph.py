"""The package's own import graph: no cycles among module-level imports.

Built with ``ast`` from the source (nothing is imported), so a cycle is caught even when
Python happens to resolve it at import time.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "radiogenomics"


def _modules() -> dict[str, tuple[Path, bool]]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        if is_pkg:
            parts = parts[:-1]
        out[".".join(parts)] = (path, is_pkg)
    return out


def _targets(module: str, is_pkg: bool, node: ast.AST, modules: dict) -> set[str]:
    """The package modules an import statement loads (the closest existing module of each name)."""
    names: list[str] = []
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    elif isinstance(node, ast.ImportFrom):
        if node.level:
            base = module.split(".") if is_pkg else module.split(".")[:-1]
            base = base[: len(base) - (node.level - 1)]
            target = ".".join(base + ([node.module] if node.module else []))
        else:
            target = node.module or ""
        names = [f"{target}.{a.name}" for a in node.names] + [target]
    out = set()
    for name in names:
        while name and name not in modules and "." in name:
            name = name.rsplit(".", 1)[0]
        # a module's own parent packages are being imported already (``from . import sibling``)
        if name in modules and name != module and not module.startswith(name + "."):
            out.add(name)
    return out


def _module_level_imports(tree: ast.Module) -> list[ast.AST]:
    """Import statements executed when the module is imported (not those inside functions)."""
    found, todo = [], list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        elif isinstance(node, (ast.If, ast.Try, ast.With, ast.ClassDef)):
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.stmt):
                    todo.append(child)
                elif isinstance(child, ast.ExceptHandler):
                    todo.extend(child.body)
    return found


def _all_imports(tree: ast.Module) -> list[ast.AST]:
    return [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]


def import_graph(module_level_only: bool = True) -> dict[str, set[str]]:
    """module -> the package modules it imports (plus the packages on the way, which Python imports too)."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, (path, is_pkg) in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        nodes = _module_level_imports(tree) if module_level_only else _all_imports(tree)
        deps: set[str] = set()
        for node in nodes:
            for target in _targets(name, is_pkg, node, modules):
                deps.add(target)
                parts = target.split(".")
                for i in range(1, len(parts)):
                    parent = ".".join(parts[:i])
                    # importing a.b.c runs a/__init__ and a/b/__init__ first (except our own parents)
                    if parent in modules and not name.startswith(parent + ".") and parent != name:
                        deps.add(parent)
        graph[name] = deps
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a list of modules (first == last), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                return stack[stack.index(dep):] + [dep]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_graph_sees_the_package():
    graph = import_graph()
    assert "radiogenomics.store.db" in graph and "radiogenomics.exceptions" in graph["radiogenomics.store.db"]
    assert "radiogenomics.connectors.geo" in graph["radiogenomics.testing.nbia_server"]


def test_find_cycle_detects_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycles_at_module_level():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


@pytest.mark.parametrize("module", ["radiogenomics.connectors", "radiogenomics.store", "radiogenomics.models",
                                    "radiogenomics.omics", "radiogenomics.imaging", "radiogenomics.associate",
                                    "radiogenomics.report"])
def test_connectors_do_not_import_the_test_server(module):
    """The local NBIA/GEO server is a testing aid: no analysis module depends on it."""
    graph = import_graph(module_level_only=False)
    users = [m for m, deps in graph.items() if m.startswith(module) and "radiogenomics.testing.nbia_server" in deps]
    assert users == []


def test_the_library_never_imports_the_cli():
    """The CLI parses and prints; the library (pipeline included) calls no command line code,
    not even inside a function."""
    graph = import_graph(module_level_only=False)
    # radiogenomics.__main__ is `python -m radiogenomics`, i.e. the command line itself
    users = sorted(m for m, deps in graph.items() if not m.startswith("radiogenomics.cli") and m != "radiogenomics.__main__"
                   and any(d == "radiogenomics.cli" or d.startswith("radiogenomics.cli.") for d in deps))
    assert users == []
