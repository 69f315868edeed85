"""The layers docs/architecture.md draws, held by the imports themselves: every import of a cryocc
module (at the top, in a function, or for type checking only) points down the layers or stays in its
own, no modules import each other in a circle, and the drivers, which run on compute nodes, import only
the shared base."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "cryocc"

# low to high; a module is in the layer of its longest listed prefix
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("base", ("cryocc", "cryocc.contract", "cryocc.errors", "cryocc.states", "cryocc.fsio", "cryocc.confine",
              "cryocc.star", "cryocc.resources", "cryocc.project_files")),
    ("load", ("cryocc.schema",)),
    ("scan", ("cryocc.acquisition",)),
    ("lockfile", ("cryocc.lockfile",)),
    ("observe", ("cryocc.observe",)),
    ("compile", ("cryocc.compiler",)),
    ("run", ("cryocc.run",)),
    ("commands", ("cryocc.cli", "cryocc.__main__", "cryocc.ui", "cryocc.report", "cryocc.html_report", "cryocc.init",
                  "cryocc.describe")),
]
DRIVERS = "cryocc.drivers"
DRIVERS_MAY_IMPORT = {"cryocc.contract", "cryocc.errors", "cryocc.fsio", "cryocc.star"}


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = _modules()


def _target(name: str) -> str | None:
    """The cryocc module an imported name lives in (an attribute of a module: that module)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str) -> set[str]:
    """Every cryocc module that module imports, wherever in it."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            names = [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        found |= {t for n in names if n.startswith("cryocc") and (t := _target(n)) and t != module}
    return found


GRAPH = {m: imports_of(m) for m in MODULES}


def layer_of(module: str) -> int | None:
    matches = [(len(prefix), i) for i, (_, prefixes) in enumerate(LAYERS) for prefix in prefixes
               if module == prefix or module.startswith(prefix + ".") and prefix != "cryocc"]
    return max(matches)[1] if matches else None


def test_every_module_has_a_place():
    assert [m for m in MODULES if layer_of(m) is None and not m.startswith(DRIVERS)] == []


def test_no_import_points_up():
    up = {}
    for module, targets in GRAPH.items():
        mine = layer_of(module)
        if mine is None:  # a driver: below
            continue
        above = sorted(f"{t} ({LAYERS[layer][0]})" for t in targets if (layer := layer_of(t)) is None or layer > mine)
        if above:
            up[f"{module} ({LAYERS[mine][0]})"] = above
    assert up == {}


def test_drivers_import_only_the_shared_base():
    outside = {m: sorted(t for t in ts if not t.startswith(DRIVERS) and t not in DRIVERS_MAY_IMPORT)
               for m, ts in GRAPH.items() if m.startswith(DRIVERS)}
    assert {m: ts for m, ts in outside.items() if ts} == {}


def test_no_modules_import_each_other_in_a_circle():
    assert _circle(GRAPH) is None


def test_a_circle_is_found():  # the check above can fail
    assert _circle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) in (["a", "b", "c", "a"], ["b", "c", "a", "b"], ["c", "a", "b", "c"])


def test_an_import_up_is_found():
    assert layer_of("cryocc.compiler.plan") > layer_of("cryocc.observe.project") > layer_of("cryocc.contract")
    assert "cryocc.observe.project" in GRAPH["cryocc.compiler.plan"]


def _circle(graph: dict[str, set[str]]) -> list[str] | None:
    """One circle of imports (each module followed by one it imports, back to the first), or None."""
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as exc:
        return list(reversed(exc.args[1]))
    return None
