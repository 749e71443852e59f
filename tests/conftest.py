"""Shared fixtures. Qt runs offscreen; Qt warnings fail tests (pytest-qt's qt_log_level_fail)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("MPLBACKEND", "Agg")
# keep the tests' autosaves out of the user's cache folder, in a folder removed when the tests end
import atexit  # noqa: E402
import contextlib  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402

if "CANDELS_GUI_AUTOSAVE_DIR" not in os.environ:
    _AUTOSAVE = tempfile.mkdtemp(prefix="candels-gui-autosave-")
    os.environ["CANDELS_GUI_AUTOSAVE_DIR"] = _AUTOSAVE
    atexit.register(shutil.rmtree, _AUTOSAVE, ignore_errors=True)

# statmorph's cache in a temporary folder; the app does not classify and measure on its own in tests
if "CANDELS_GUI_CACHE_DIR" not in os.environ:
    _CACHE = tempfile.mkdtemp(prefix="candels-gui-cache-")
    os.environ["CANDELS_GUI_CACHE_DIR"] = _CACHE
    atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)
os.environ.setdefault("CANDELS_GUI_MORPH_AUTO", "0")

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from astropy.table import Table  # noqa: E402

COSMOS_DIR = ROOT.parent / "shared" / "real" / "cosmos_hst"


def make_stampset(n: int = 12, size: int = 48, seed: int = 0):
    """A small StampSet of Gaussian-ish galaxies with one neighbour each, int32 labels > 255."""
    from candels_gui.core.data.stampset import StampSet

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    c = size // 2
    images = rng.normal(0.0, 0.05, (n, size, size)).astype(np.float32)
    segmaps = np.zeros((n, size, size), np.int32)
    radius = rng.uniform(2.0, 5.0, n)
    for i in range(n):
        r = np.hypot(yy - c, xx - c)
        images[i] += (rng.uniform(2, 20) * np.exp(-0.5 * (r / radius[i]) ** 2)).astype(np.float32)
        segmaps[i][r < 2.5 * radius[i]] = 300 + i
        ny, nx = rng.integers(3, size - 3, 2)
        if np.hypot(ny - c, nx - c) > 3 * radius[i] + 4:
            rn = np.hypot(yy - ny, xx - nx)
            images[i] += (5 * np.exp(-0.5 * (rn / 1.5) ** 2)).astype(np.float32)
            segmaps[i][rn < 3] = 1000 + i
    cat = Table({
        "id": np.arange(n) + 101, "ra": rng.uniform(0, 1, n), "dec": rng.uniform(0, 1, n),
        "mag": rng.uniform(20, 24, n), "radius": radius, "z": rng.uniform(0.1, 3, n),
        "galtype": np.array(["irr", "disk", "sph", "sphd"])[np.arange(n) % 4],
        "segval": 300 + np.arange(n),
    })
    return StampSet(images, segmaps, cat, source="synthetic")


@pytest.fixture
def small_stamps():
    return make_stampset()


@pytest.fixture(scope="session")
def cosmos_dir():
    if not COSMOS_DIR.exists():
        pytest.skip("../shared/real/cosmos_hst is not present")
    return COSMOS_DIR


@contextlib.contextmanager
def window_factory(qtbot, settings_dir, size=(1300, 850), wait_ms=10000):
    """``make(source, **kwargs)``: a shown MainWindow on ``source`` with its own settings file in
    ``settings_dir``; every window's tasks are cancelled and waited for when the block ends."""
    from PyQt6.QtCore import QSettings

    from candels_gui.gui.app import MainWindow

    windows = []

    def make(source, **kwargs):
        settings = QSettings(str(Path(settings_dir) / f"settings{len(windows)}.ini"), QSettings.Format.IniFormat)
        win = MainWindow(source, settings=settings, **kwargs)
        qtbot.addWidget(win)
        win.resize(*size)
        win.show()
        qtbot.waitExposed(win)
        windows.append(win)
        return win

    try:
        yield make
    finally:
        for win in windows:
            win.tasks.cancel_all()
            win.tasks.wait(wait_ms)


@pytest.fixture(autouse=True)
def _unfreeze_collector():
    """The app freezes what is alive once it has settled (``gui.collector``); a test's windows are closed when it
    ends, so what was frozen goes back to the collector and is freed, not kept for the rest of the run."""
    yield
    import gc

    if gc.get_freeze_count():
        gc.unfreeze()
