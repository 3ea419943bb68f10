"""No circles and no giant files: every import, even one inside a function, points one way.

import-linter sees the layers between packages; a circle inside one package (two modules that each
import the other, directly or through others) it does not. Lazy imports inside functions hide such a
circle from Python at load time but not from a reader, so they count here too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import wenxin_magic

ROOT = Path(wenxin_magic.__file__).parent.parent
PACKAGE = ROOT / "wenxin_magic"
BENCHMARKS = ROOT / "benchmarks"
LONGEST_MODULE = 800


def _module_name(path: Path, top: Path, prefix: tuple[str, ...]) -> str:
    parts = prefix + path.relative_to(top).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _files() -> dict[str, Path]:
    """Module name -> file, for the package and for the benchmarks (which import each other as top-level names)."""
    files = {_module_name(p, PACKAGE, ("wenxin_magic",)): p for p in PACKAGE.rglob("*.py")}
    files.update({_module_name(p, BENCHMARKS, ()): p for p in BENCHMARKS.glob("*.py")})
    return files


def _targets(module: str, path: Path, known: dict[str, Path]):
    """Every module of ``known`` that ``module`` names in an import statement, anywhere in its file."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[:len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            # ``from . import x`` imports the module x when there is one, else a name of the package
            names = [f"{source}.{alias.name}" if f"{source}.{alias.name}" in known else source
                     for alias in node.names]
        else:
            continue
        for name in names:
            if name in known and name != module:
                yield name


def _graph() -> dict[str, set[str]]:
    known = _files()
    return {module: set(_targets(module, path, known)) for module, path in known.items()}


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_sees_imports_inside_functions():
    graph = _graph()
    assert "wenxin_magic.api" in graph["wenxin_magic.session"] or any(
        target.startswith("wenxin_magic.api") for target in graph["wenxin_magic.session._backend"])
    assert graph["wenxin_magic.magics"], "the magics import something of the package"


def test_the_circle_finder_finds_a_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _circles(graph) == [["a", "b", "c"]]
    assert _circles({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_one_that_imports_it_back():
    circles = _circles(_graph())
    assert not circles, "modules that import each other, directly or through others:\n" + "\n".join(
        " -> ".join(group) for group in circles)


def test_no_module_is_one_a_newcomer_is_afraid_to_open():
    long = {str(path.relative_to(ROOT)): lines for path in PACKAGE.rglob("*.py")
            if (lines := len(path.read_text(encoding="utf-8").splitlines())) > LONGEST_MODULE}
    assert not long, f"modules over {LONGEST_MODULE} lines: {long}"
