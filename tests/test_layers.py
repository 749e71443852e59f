"""The layers of DESIGN.md: core imports no Qt and no torch; no import cycles; core's sub-packages one way."""

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import candels_gui

PACKAGE_DIR = Path(candels_gui.__file__).parent

#: What each sub-package of core may import of core (besides itself and the root modules).
CORE_ALLOWED = {
    "data": set(),
    "blending": {"data"},
    "store": {"blending", "data"},
    "curation": {"store", "blending", "data"},
    "measure": {"blending", "data"},
    "display": set(),
}
CORE_ROOT_MODULES = {"errors", "jobs", "rng", "parallel", "atomic", "validate"}


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys; print('\\n'.join(sys.modules))"],
                         capture_output=True, text=True, check=True, cwd=str(PACKAGE_DIR.parent))
    return set(out.stdout.split())


def _module_files() -> dict[str, Path]:
    """Every module of the package: dotted name -> file (a package is its ``__init__.py``)."""
    files = {}
    for path in PACKAGE_DIR.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        files[".".join(parts)] = path
    return files


def _imports(name: str, path: Path, modules: set[str]) -> set[tuple[str, str]]:
    """``(module imported, name imported)`` for every import of the package anywhere in ``path``.

    Imports inside functions and under ``TYPE_CHECKING`` count too: a cycle for a type hint is a cycle.
    """
    is_pkg = path.name == "__init__.py"
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {(a.name, "") for a in node.names if a.name.split(".")[0] == "candels_gui"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "candels_gui":
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                out.add((sub, "") if sub in modules else (target, alias.name))
    return out


def _graph() -> dict[str, set[str]]:
    files = _module_files()
    return {name: {m for m, _ in _imports(name, path, set(files))} & set(files) - {name}
            for name, path in files.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
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


def test_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_the_package_has_no_import_cycle():
    cycles = _cycles(_graph())
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_core_sub_packages_import_one_way_and_no_private_names():
    files = _module_files()
    bad = []
    for name, path in files.items():
        parts = name.split(".")
        if parts[:2] != ["candels_gui", "core"] or len(parts) < 4:
            continue
        own = parts[2]
        for target, imported in _imports(name, path, set(files)):
            tparts = target.split(".")
            if tparts[:2] != ["candels_gui", "core"] or len(tparts) < 3:
                continue
            other = tparts[2]
            if other == own or other in CORE_ROOT_MODULES:
                continue
            if other not in CORE_ALLOWED[own]:
                bad.append(f"{name} imports {target} (core.{own} may import {sorted(CORE_ALLOWED[own])})")
            if imported.startswith("_"):
                bad.append(f"{name} imports the private name {imported} of {target}")
    assert not bad, "\n".join(bad)


def test_core_is_sub_packages_by_concern():
    core = PACKAGE_DIR / "core"
    packages = {p.parent.name for p in core.glob("*/__init__.py")}
    assert packages == set(CORE_ALLOWED)
    loose = {p.stem for p in core.glob("*.py")} - {"__init__"}
    assert loose == CORE_ROOT_MODULES
    for sub in packages:   # each says what lives there and what it may import
        doc = ast.get_docstring(ast.parse((core / sub / "__init__.py").read_text(encoding="utf-8")))
        assert doc and "May import" in doc, sub


def test_core_imports_neither_qt_nor_torch():
    import candels_gui.core as core

    names = [m.name for m in pkgutil.walk_packages(core.__path__, "candels_gui.core.")]
    assert "candels_gui.core.blending.engine" in names and "candels_gui.core.data.stampset" in names
    mods = _modules_after("\n".join(f"import {n}" for n in names))
    assert set(names) <= mods
    bad = {m for m in mods if m.split(".")[0] in {"PyQt6", "pyqtgraph", "superqt", "torch"}}
    assert not bad, f"core pulled in {sorted(bad)}"


def test_core_reexports_the_public_api_lazily():
    mods = _modules_after("import candels_gui.core")
    assert "candels_gui.core.blending.engine" not in mods    # nothing loaded until asked
    import candels_gui.core as core
    from candels_gui.core.blending.engine import BlendEngine

    assert core.BlendEngine is BlendEngine
    for name in core.__all__:
        assert getattr(core, name) is not None


def test_package_import_is_light():
    mods = _modules_after("import candels_gui")
    assert "candels_gui" in mods
    assert "torch" not in mods and "PyQt6" not in mods
