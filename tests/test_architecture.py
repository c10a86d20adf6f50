"""The import graph of ``src/alpha_refine``, read with ``ast`` (nothing is imported).

Imports run one way: no module reaches itself again through its imports (counting imports inside
functions and under ``TYPE_CHECKING``, which are arrows all the same), and the refiner's core
never imports the tools built on top of it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import alpha_refine

PACKAGE = Path(alpha_refine.__file__).parent
# The tools built on the refiner; the core below them must not reach up into them.
UPPER = ("alpha_refine.app", "alpha_refine.eval", "alpha_refine.trackers", "alpha_refine.train")
UPPER_MODULES = ("alpha_refine.cli", "alpha_refine.demo")
CORE = (
    "alpha_refine.refiner",
    "alpha_refine.state",
    "alpha_refine.gate",
    "alpha_refine.geometry",
    "alpha_refine.config",
    "alpha_refine.model",
    "alpha_refine.runtime",
    "alpha_refine.weights",
    "alpha_refine._inputs",
    "alpha_refine._atomic",
)


def _modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = ["alpha_refine", *path.relative_to(PACKAGE).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports (``from a import b`` counts ``a.b`` when it
    is a module, else ``a``)."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*parent, *([base] if base else [])])
                for alias in node.names:
                    child = f"{base}.{alias.name}"
                    targets.add(child if child in modules else base)
        graph[name] = {target for target in targets if target in modules and target != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


def test_the_graph_sees_known_arrows() -> None:
    graph = import_graph()

    assert "alpha_refine.runtime.engine" in graph["alpha_refine.refiner"]
    assert "alpha_refine.geometry" in graph["alpha_refine.gate"]
    # Lazy imports inside functions count too.
    assert "alpha_refine.runtime.onnx_engine" in graph["alpha_refine.runtime.build"]


def test_cycle_finder_finds_a_circle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}

    assert cycles(graph) == [["a", "b", "c"]]


def test_no_import_cycles() -> None:
    assert cycles(import_graph()) == []


def test_core_never_imports_the_tools_above_it() -> None:
    upward = [
        f"{name} -> {target}"
        for name, targets in import_graph().items()
        if _within(name, CORE)
        for target in targets
        if _within(target, UPPER) or target in UPPER_MODULES
    ]

    assert upward == []


def test_moved_code_keeps_its_public_entry_points() -> None:
    import alpha_refine.onnx
    import alpha_refine.weights
    from alpha_refine.eval import runner, tracking
    from alpha_refine.runtime import export, graphs, onnx_engine
    from alpha_refine.weights import published, store

    assert alpha_refine.onnx.export_onnx is export.export_onnx
    assert alpha_refine.onnx.export_graphs is export.export_graphs
    assert alpha_refine.onnx.OnnxRuntimeEngine is onnx_engine.OnnxRuntimeEngine
    assert alpha_refine.onnx.onnx_available is graphs.onnx_available
    assert alpha_refine.weights.convert_published is published.convert_published
    assert alpha_refine.weights.load_pretrained is store.load_pretrained
    assert runner.track_sequence is tracking.track_sequence
