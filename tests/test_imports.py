"""No import cycles between the top-level packages and modules of `app/`: each layer can be
read, tested and changed without the ones that use it."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

APP = Path(__file__).resolve().parents[1] / "app"
Edges = dict[str, dict[str, set[str]]]


def _unit(path: Path) -> str:
    """The top-level package or module of `app/` a file belongs to."""
    parts = path.relative_to(APP).parts
    return parts[0] if len(parts) > 1 else parts[0].removesuffix(".py")


def _imported(node: ast.AST, path: Path) -> list[str]:
    """The `app` modules an import statement names, absolute, wherever it stands (inside
    functions and `TYPE_CHECKING` blocks too)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level == 0:
        module = node.module or ""
        return [module] if module != "app" else [f"app.{a.name}" for a in node.names]
    package = list(path.relative_to(APP.parent).with_suffix("").parts)
    base = package[: len(package) - node.level]
    if node.module:
        return [".".join([*base, node.module])]
    return [".".join([*base, alias.name]) for alias in node.names]


def import_graph() -> Edges:
    """unit -> imported unit -> the files that import it."""
    edges: Edges = defaultdict(lambda: defaultdict(set))
    for path in sorted(APP.rglob("*.py")):
        source = _unit(path)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            for module in _imported(node, path):
                parts = module.split(".")
                if parts[0] == "app" and len(parts) > 1 and parts[1] != source:
                    edges[source][parts[1]].add(str(path.relative_to(APP.parent)))
    return edges


def strongly_connected(edges: Edges) -> list[set[str]]:
    """Tarjan's strongly connected components."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges.get(node, {}):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            components.append(component)

    for node in sorted({*edges, *(t for targets in edges.values() for t in targets)}):
        if node not in index:
            visit(node)
    return components


def test_no_import_cycles_between_top_level_packages() -> None:
    edges = import_graph()
    cycles = [c for c in strongly_connected(edges) if len(c) > 1]
    described = [
        f"{source} -> {target}: {', '.join(sorted(edges[source][target]))}"
        for component in cycles
        for source in sorted(component)
        for target in sorted(edges[source])
        if target in component
    ]
    assert not cycles, "import cycles between app/ packages:\n" + "\n".join(described)
