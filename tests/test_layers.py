"""The layers of DESIGN.md: core imports no Qt and no torch; deblend imports torch lazily."""

import subprocess
import sys


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys; print('\\n'.join(sys.modules))"],
                         capture_output=True, text=True, check=True, cwd=str(__import__('pathlib').Path(__file__).parents[1]))
    return set(out.stdout.split())


def test_core_imports_neither_qt_nor_torch():
    import pkgutil
    import candels_gui.core as core

    names = [m.name for m in pkgutil.iter_modules(core.__path__)]
    assert "blend" in names and "stampset" in names
    code = "\n".join(f"import candels_gui.core.{n}" for n in names)
    mods = _modules_after(code)
    assert f"candels_gui.core.{names[0]}" in mods
    bad = {m for m in mods if m.split(".")[0] in {"PyQt6", "pyqtgraph", "superqt", "torch"}}
    assert not bad, f"core pulled in {sorted(bad)}"


def test_package_import_is_light():
    mods = _modules_after("import candels_gui")
    assert "candels_gui" in mods
    assert "torch" not in mods and "PyQt6" not in mods
