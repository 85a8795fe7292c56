"""The package's imports go one way: hazmat → format → kms → keys → io →
fs → integrations (parquet, bigdl, spark) → CLI, with no cycles (lazy imports inside functions count:
a cycle that only works because one side imports late is still a tangle).

The graph is read from the source with :mod:`ast`, so the test needs no
optional dependency and sees imports that never run here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import sealio

PACKAGE = Path(sealio.__file__).resolve().parent

# Lower number = lower layer. The longest matching prefix decides.
LAYERS: dict[str, int] = {
    "sealio.errors": 0,
    "sealio._fsutil": 0,
    "sealio._lazy": 0,
    "sealio._version": 0,
    "sealio.hazmat": 0,
    "sealio.primitives": 0,
    "sealio.format": 1,
    "sealio.kms": 2,
    "sealio.keys": 3,
    "sealio.io": 4,
    "sealio.streams": 4,
    "sealio.fs": 5,
    "sealio.arrow": 6,
    "sealio.fsspec_fs": 5,
    "sealio.parquet": 6,
    "sealio.bigdl": 6,
    "sealio.spark": 6,
    "sealio.cli": 7,
}


def _modules() -> dict[str, Path]:
    mods = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        mods[".".join(parts)] = path
    return mods


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join(up + ([base] if base else []))
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    targets.add(sub if sub in mods else base)
        graph[name] = {t for t in targets if t in mods and t != name}
    return graph


def _layer(module: str) -> int | None:
    best: tuple[int, int] | None = None
    for prefix, layer in LAYERS.items():
        if module == prefix or module.startswith(prefix + "."):
            if best is None or len(prefix) > best[0]:
                best = (len(prefix), layer)
    return None if best is None else best[1]


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_every_module_has_a_layer() -> None:
    missing = [m for m in _graph() if m != "sealio" and _layer(m) is None]
    assert not missing, f"give these modules a layer in LAYERS: {missing}"


def test_no_import_cycles() -> None:
    assert _cycles(_graph()) == []


def test_no_upward_imports() -> None:
    upward = []
    for module, targets in sorted(_graph().items()):
        here = _layer(module)
        for target in sorted(targets):
            there = _layer(target)
            if here is not None and there is not None and there > here:
                upward.append(f"{module} (layer {here}) imports {target} (layer {there})")
    assert upward == []


def test_the_checker_sees_a_cycle() -> None:
    """The cycle finder itself must be able to fail."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_private_name_used_across_layers() -> None:
    """``from sealio.m import _name`` (a private function or class, not a
    private module) only from the same layer: a rule another layer needs
    is public API of the layer that owns it."""
    mods = _modules()
    offenders = []
    for name, path in mods.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.ImportFrom) and node.level == 0 and node.module
                    and node.module.startswith("sealio")):
                continue
            for alias in node.names:
                private = alias.name.startswith("_") and not alias.name.startswith("__")
                if private and f"{node.module}.{alias.name}" not in mods \
                        and _layer(node.module) != _layer(name):
                    offenders.append(f"{name}: from {node.module} import {alias.name}")
        offenders += _private_attributes(name, path, mods)
    assert offenders == []


def _private_attributes(name: str, path: Path, mods: dict[str, Path]) -> list[str]:
    """``module._name`` where ``module`` was imported from another layer."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                if full in mods:
                    aliases[alias.asname or alias.name] = full
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname and alias.name in mods:
                    aliases[alias.asname] = alias.name
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                and node.value.id in aliases and node.attr.startswith("_") \
                and not node.attr.startswith("__"):
            target = aliases[node.value.id]
            if _layer(target) != _layer(name):
                found.append(f"{name}: {target}.{node.attr}")
    return found
