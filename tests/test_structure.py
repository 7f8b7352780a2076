"""The package's module structure: no import cycle, and the layers import downwards only."""

import ast
import pathlib

import skdeepcluster

PACKAGE = pathlib.Path(skdeepcluster.__file__).parent


def _module_name(path):
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_graph():
    """module -> the package modules it imports (``from . import x`` imports x, not the package)."""
    files = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        imported = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                submodules = [f"{target}.{alias.name}" for alias in node.names if f"{target}.{alias.name}" in files]
                imported.update(submodules if len(submodules) == len(node.names) else [target, *submodules])
            elif isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
        graph[name] = {module for module in imported if module in files and module != name}
    return graph


def _cycles(graph):
    cycles, state, stack = [], {}, []

    def visit(module):
        state[module] = "open"
        stack.append(module)
        for imported in sorted(graph[module]):
            if state.get(imported) == "open":
                cycles.append([*stack[stack.index(imported):], imported])
            elif imported not in state:
                visit(imported)
        stack.pop()
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module)
    return cycles


def test_the_import_graph_has_no_cycle():
    assert _cycles(_import_graph()) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]


def test_engine_and_persistence_know_no_algorithm():
    graph = _import_graph()
    algorithms = ("skdeepcluster.s3vdc", "skdeepcluster.loster")
    for module, imported in graph.items():
        if module.startswith("skdeepcluster._engine") or module in ("skdeepcluster._persistence",
                                                                     "skdeepcluster._base"):
            assert not any(name.startswith(algorithms) for name in imported), (module, imported)
