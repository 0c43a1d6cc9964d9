"""The package has no import cycle: the graph of module-level imports between bridge modules (function-level
imports excluded; ``if TYPE_CHECKING:`` blocks excluded; a module's own ancestor packages, which Python imports
before it anyway, are not edges) is acyclic, so every import can sit at its module's top. A planted cycle is found
(the check can fail)."""
from __future__ import annotations

import ast
from pathlib import Path

import bridge

ROOT = Path(bridge.__file__).resolve().parent


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _top_level(body: list[ast.stmt]):
    """Statements executed at import time (into if/try/with blocks, not into functions or TYPE_CHECKING)."""
    for node in body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        yield node
        for field in ("body", "orelse", "finalbody", "handlers"):
            inner = getattr(node, field, None)
            if isinstance(inner, list) and not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                                 ast.ClassDef)):
                yield from _top_level([n for n in inner if isinstance(n, ast.stmt)] +
                                      [s for h in inner if isinstance(h, ast.ExceptHandler) for s in h.body])


def imports(source: str, module: str, is_package: bool, known: set[str]) -> set[str]:
    """The bridge modules ``module`` imports when it is imported."""
    out: set[str] = set()
    base = module.split(".") if is_package else module.split(".")[:-1]
    for node in _top_level(ast.parse(source).body):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            target = ".".join(base[: len(base) - node.level + 1] + ([node.module] if node.module else [])) \
                if node.level else node.module
            out.add(target)
            out.update(f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in known)
    # an ancestor package is imported before the module anyway (Python imports a, a.b before a.b.c): not an edge
    ancestors = {".".join(module.split(".")[:i]) for i in range(1, module.count(".") + 1)}
    return {m for m in out if m in known and m != module and m not in ancestors}


def graph(files: dict[str, tuple[str, bool]]) -> dict[str, set[str]]:
    known = set(files)
    return {m: imports(src, m, pkg, known) for m, (src, pkg) in files.items()}


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in g[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def package_files() -> dict[str, tuple[str, bool]]:
    return {module_name(p): (p.read_text(encoding="utf-8"), p.name == "__init__.py") for p in ROOT.rglob("*.py")}


def test_no_import_cycle():
    assert cycles(graph(package_files())) == []


def test_a_planted_cycle_is_found():
    files = package_files()
    src, pkg = files["bridge.errors"]
    files["bridge.errors"] = (src + "\nfrom .backends import base\n", pkg)
    found = cycles(graph(files))
    assert any("bridge.errors" in c and "bridge.backends.base" in c for c in found), found
