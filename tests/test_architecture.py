"""The package's structure: no import cycles (function-level imports included), and every private
name of torch or Lightning used in one module, ganbench._compat."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "ganbench"
PRIVATE = re.compile(r"^_[A-Za-z][A-Za-z0-9_]*[A-Za-z0-9]$")  # _name, not __dunder__ nor Hydra's _target_


def _modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def import_graph() -> dict[str, set[str]]:
    """module -> the ganbench modules it imports anywhere in its source (top level or in a function)."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                deps.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                    base = base[: len(base) - node.level + 1]
                    target = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    target = node.module or ""
                deps.update(f"{target}.{a.name}" if f"{target}.{a.name}" in modules else target for a in node.names)
        graph[name] = {d for d in deps if d in modules and d != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while (w := stack.pop()) != v:
                component.append(w)
            component.append(v)
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_ganbench_has_no_import_cycle():
    graph = import_graph()
    assert "ganbench.experiment" in graph and "ganbench.training.module" in graph["ganbench.experiment"]
    assert cycles(graph) == []


def _own_names() -> set[str]:
    """Every name ganbench itself defines: functions, classes, attributes it assigns, variables,
    arguments, buffers it registers."""
    names: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.arg):
                names.add(node.arg)
            elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
                if getattr(node.func, "attr", None) in ("register_buffer", "register_parameter"):
                    names.add(node.args[0].value)
    return names


ATTRIBUTE_FUNCTIONS = ("getattr", "setattr", "hasattr", "delattr")


def _is_str(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def foreign_private_names(source: str, own: set[str]) -> list[tuple[int, str]]:
    """(line, name) of each private name in ``source`` that ganbench does not define: attribute
    accesses, names given as strings to getattr/setattr/hasattr/delattr or in a set literal, and
    imports from private modules or of private names of torch and Lightning."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and PRIVATE.match(node.attr):
            found.append((node.lineno, node.attr))
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) in (
            "getattr",
            "setattr",
            "hasattr",
            "delattr",
        ):
            if len(node.args) > 1 and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str):
                found.append((node.lineno, node.args[1].value))
        elif isinstance(node, ast.Set):
            found.extend(
                (node.lineno, e.value) for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)
            )
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in ("torch", "lightning"):
            parts = node.module.split(".")
            found.extend((node.lineno, p) for p in parts if p.startswith("_"))
            found.extend((node.lineno, a.name) for a in node.names if PRIVATE.match(a.name))
    return [(line, name) for line, name in found if PRIVATE.match(name) and name not in own]


def test_the_private_name_finder_finds_them():
    source = (
        "import torch\nfrom torch.nn.modules.batchnorm import _BatchNorm\n"
        "x = torch._foreach_norm(t)\ny = getattr(m, '_fabric', None)\nz = frozenset({'_current_fx_name'})\n"
        "self._mine = 1\nw = self._mine\n"
    )
    assert sorted(foreign_private_names(source, own={"_mine"})) == [
        (2, "_BatchNorm"),
        (3, "_foreach_norm"),
        (4, "_fabric"),
        (5, "_current_fx_name"),
    ]


def test_private_names_of_torch_and_lightning_only_in_compat():
    own = _own_names()
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}:{line}: {name}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "_compat.py"
        for line, name in foreign_private_names(path.read_text(), own)
    ]
    assert offenders == [], "private names of other packages belong in ganbench/_compat.py:\n" + "\n".join(offenders)
