"""The package's layout maps its architecture (docs/layout.md): dependencies point one
way, there is no import cycle, no function-level import of mfspec, small modules and functions, and
every layer kind is declared by the abstract contract and listed in the test catalogue."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest
from helpers import catalogue

import mfspec as mf
from mfspec.layers import KIND_EXPORTS

PACKAGE = Path(mf.__file__).resolve().parent

#: Each part of the package and its rank: a module may import only from parts of a rank ≤ its own
#: (the list in mfspec/__init__.py). Within a part, the import graph must be acyclic.
RANKS = {
    "common": 0,
    "act": 1, "init": 1, "loss": 1, "lr": 1, "data": 1,
    "layers": 2,
    "network": 3,
    "declaration": 4,
    "finite": 5,
    "limit": 6,
    "symbolic": 7,
    "checks": 8,
    "run": 9,
    "cli": 10, "testing": 10, "conv": 10, "": 10,
    "spec": 11,  # the bundled spec files (the wheel ships spec/ as mfspec/spec/): users' view
}  # fmt: skip
#: Third-party modules imported inside a function: optional extras, or private API used only where
#: it is needed (JAX's distributed client).
OPTIONAL = ("sklearn", "jsonschema", "jax._src.distributed")


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).with_suffix("")
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        out[".".join(("mfspec", *parts))] = path
    return out


MODULES = _modules()


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _imported(node, module: str) -> list[str]:
    """The mfspec modules an import statement names (``from mfspec.x import y``: mfspec.x, and
    mfspec.x.y when that is a module)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.startswith("mfspec")]
    if node.level:  # relative imports are not used in mfspec; resolve them anyway
        base = module.rsplit(".", node.level)[0]
        name = f"{base}.{node.module}" if node.module else base
    else:
        name = node.module or ""
    if not name.startswith("mfspec"):
        return []
    subs = [f"{name}.{a.name}" for a in node.names if f"{name}.{a.name}" in MODULES]
    # ``from package import submodule`` needs the submodule (its package is initializing already);
    # a name defined in the package's __init__ needs the package.
    return subs if len(subs) == len(node.names) else [name, *subs]


def _is_type_checking(node) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _module_level_imports(tree) -> list:
    """Import statements executed when the module is imported (not under ``if TYPE_CHECKING``)."""
    found, todo = [], list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        elif isinstance(node, (ast.If, ast.Try, ast.With)) and not _is_type_checking(node):
            todo += [n for n in ast.iter_child_nodes(node) if isinstance(n, ast.stmt)]
    return found


def _graph() -> dict[str, set[str]]:
    graph = {}
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text())
        graph[module] = {
            m for node in _module_level_imports(tree) for m in _imported(node, module) if m != module
        }
    return graph


GRAPH = _graph()


def test_no_import_cycles():
    state, stack, cycles = {}, [], []

    def visit(m):
        state[m], _ = "open", stack.append(m)
        for n in sorted(GRAPH.get(m, ())):
            if state.get(n) == "open":
                cycles.append(stack[stack.index(n) :] + [n])
            elif n not in state:
                visit(n)
        state[m], _ = "done", stack.pop()

    for m in sorted(GRAPH):
        if m not in state:
            visit(m)
    assert not cycles, "import cycles:\n" + "\n".join(" → ".join(c) for c in cycles)


def test_dependencies_point_one_way():
    bad = [
        f"{m} (rank {RANKS[_part(m)]}) imports {n} (rank {RANKS[_part(n)]})"
        for m, deps in GRAPH.items()
        for n in deps
        if RANKS[_part(n)] > RANKS[_part(m)]
    ]
    assert not bad, "\n".join(bad)


def test_the_graph_sees_the_imports():
    """The walker is not vacuous: it finds edges known to exist."""
    assert "mfspec.layers.base" in GRAPH["mfspec.layers.dense"]
    assert "mfspec.network.particles" in GRAPH["mfspec.declaration.spec"]
    assert "mfspec.limit.solve" in GRAPH["mfspec.limit.error_bar"]


def test_function_level_imports_are_only_optional_dependencies():
    bad = []
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text())
        for fn in ast.walk(tree):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom):
                    names = [node.module or ""]
                else:
                    continue
                bad += [f"{module}.{fn.name}: import {n}" for n in names if not n.startswith(OPTIONAL)]
    assert not bad, "\n".join(bad)


def test_modules_and_functions_are_small():
    long_modules = [
        f"{m} ({n} lines)" for m, p in MODULES.items() if (n := len(p.read_text().splitlines())) > 400
    ]
    long_functions = []
    for module, path in MODULES.items():
        for fn in ast.walk(ast.parse(path.read_text())):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) and fn.end_lineno - fn.lineno + 1 > 80:
                long_functions.append(f"{module}.{fn.name} ({fn.end_lineno - fn.lineno + 1} lines)")
    assert not long_modules and not long_functions, "\n".join(long_modules + long_functions)


KINDS = [
    getattr(mf.layers, name)
    for name in KIND_EXPORTS
    if inspect.isclass(getattr(mf.layers, name)) and issubclass(getattr(mf.layers, name), mf.LayerKind)
]


def test_every_layer_kind_is_in_the_test_catalogue():
    assert {k.__name__ for k in KINDS} >= {"Input", "Dense", "Local", "Conv"}
    present = {type(layer) for spec in catalogue().values() for layer in spec.layers}
    missing = [k.__name__ for k in KINDS if k not in present]
    assert not missing, f"layer kinds with no entry in tests/helpers.catalogue(): {missing}"


@pytest.mark.parametrize("kind", KINDS, ids=[k.__name__ for k in KINDS])
def test_every_kind_implements_the_whole_contract(kind):
    """Nothing the folds call is left abstract, and each method keeps the contract's signature."""
    assert not getattr(kind, "__abstractmethods__", None), kind.__abstractmethods__
    for name in mf.LayerKind.__abstractmethods__:
        want = list(inspect.signature(getattr(mf.LayerKind, name)).parameters)
        got = list(inspect.signature(getattr(kind, name)).parameters)
        assert got == want, f"{kind.__name__}.{name}{got} differs from LayerKind.{name}{want}"


def test_a_kind_with_a_method_missing_cannot_be_built():
    class Incomplete(mf.Dense):
        pass

    Incomplete.__abstractmethods__ = frozenset({"weight_pullback"})  # as if it did not define it
    with pytest.raises(TypeError, match="abstract"):
        Incomplete(mf.layer(mf.act.tanh))

    class NoRule(mf.LayerKind):
        act: mf.Activation
        theta_law: object = None
        weight_law: object = None
        kind_name = "no_rule"

    with pytest.raises(TypeError, match="abstract"):
        NoRule(mf.layer(mf.act.tanh))
