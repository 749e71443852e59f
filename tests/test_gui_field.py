"""The Field tab: a large memory-mapped field panned and zoomed through its pyramid; galaxies picked on a field
become the editor's galaxy 1 and 2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PyQt6")

from candels_gui.core.data.field_fits import FieldWriter  # noqa: E402

SAMPLE_FIELD = Path(__file__).resolve().parents[1] / "sample_data" / "field" / "mock_field.fits"


@pytest.fixture(scope="module")
def big_field(tmp_path_factory) -> Path:
    """A 4096 x 4096 field (64 MB) written strip by strip: a gradient plus noise, so every region differs."""
    path = tmp_path_factory.mktemp("bigfield") / "big.fits"
    rng = np.random.default_rng(0)
    n = 4096
    with FieldWriter(path, (n, n)) as w:
        for r in range(0, n, 512):
            rows = np.arange(r, r + 512, dtype=np.float32)[:, None]
            strip = rows / n + np.arange(n, dtype=np.float32)[None, :] / (2 * n)
            w.write(strip + rng.normal(0, 0.05, (512, n)).astype(np.float32), r, 0)
    return path


def _view(qtbot):
    from candels_gui.gui.display_model import DisplayModel
    from candels_gui.gui.field_view import FieldView
    from candels_gui.gui.workers import TaskRunner

    errors = []
    view = FieldView(DisplayModel(), TaskRunner(), on_error=lambda title, exc: errors.append(exc))
    qtbot.addWidget(view)
    view.resize(900, 700)
    view.show()
    qtbot.waitExposed(view)
    return view, errors


def test_field_tab_pans_a_large_memory_mapped_field(qtbot, big_field):
    view, errors = _view(qtbot)
    view.open_field(big_field)
    assert isinstance(view.field.data, np.memmap) or isinstance(view.field.data.base, np.memmap) or \
        view.field.data.base is not None                      # a view of the file, not a copy
    qtbot.waitUntil(lambda: len(view.pyramid.levels) > 1, timeout=60_000)
    assert [lv.shape[0] for lv in view.pyramid.levels] == [4096, 2048, 1024]
    view.fit()
    view.refresh()
    qtbot.waitUntil(lambda: not view.layer.pending, timeout=10_000)
    assert view.layer.level >= 2                             # the whole field is shown from a coarse level
    sh, sw = view.screen_size()
    means = []
    for x0 in (0, 1500, 3000):                               # pan across at one screen pixel per field pixel
        with qtbot.waitSignal(view.frameShown, timeout=5000):
            view.vb.setRange(xRange=(x0, x0 + sw), yRange=(1000, 1000 + sh), padding=0)
        qtbot.waitUntil(lambda: not view.layer.pending, timeout=10_000)
        shown = view.layer.visible_tiles()
        assert shown and all(key[0] == 0 for key, _ in shown)  # full resolution
        pixels = sum(img.size for _, img in shown)
        assert pixels <= 2 * (sh + 512) * (sw + 512)          # only about the screen's pixels were read
        means.append(float(np.mean([img.mean() for _, img in shown])))
    assert means[0] < means[1] < means[2]                     # the gradient: each pan shows its own region
    assert errors == []
    frames, settle = view.frame_times([(100.0, 100.0, sw, sh), (2000.0, 900.0, sw, sh)])
    assert len(settle) == 2 and len(frames) >= 2 and all(t > 0 for t in frames)
    view._close_pyramid()


def test_picked_field_galaxies_go_to_the_editor(qtbot, tmp_path):
    from PyQt6.QtCore import QSettings

    from candels_gui.gui.app import MainWindow
    from tests.conftest import make_stampset

    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    window = MainWindow(make_stampset(), settings=settings)
    qtbot.addWidget(window)
    window.show()
    view = window.field_view
    window.central_tabs.setCurrentWidget(view)
    view.open_field(SAMPLE_FIELD)
    qtbot.waitUntil(lambda: not window.tasks.busy, timeout=60_000)
    view.vb.setRange(xRange=(20, 588), yRange=(20, 588), padding=0)   # the field's corner in view
    view.detect_in_view()
    qtbot.waitUntil(lambda: view.detections is not None, timeout=60_000)
    cat = view.detections
    # sources whose stamp would cross the field's edge are drawn apart and cannot be sent (said on the click)
    h, w = view.field.shape
    x, y = np.floor(np.asarray(cat["x"], float) + 0.5), np.floor(np.asarray(cat["y"], float) + 0.5)
    near = (x < 64) | (y < 64) | (x + 64 > w) | (y + 64 > h)      # a 128 px stamp centred there would cross it
    assert near.any() and (view.usable == ~near).all()
    j = int(np.flatnonzero(near)[0])
    assert view.select_at(float(cat["x"][j]), float(cat["y"][j])) is not None
    assert not view.send1_button.isEnabled() and "too near the field's edge" in window.statusBar().currentMessage()
    inner = (cat["x"] > 140) & (cat["x"] < 628) & (cat["y"] > 140) & (cat["y"] < 628)
    order = np.argsort(np.where(inner, cat["mag"], 99))[:2]
    for which, i in zip((1, 2), order):
        assert view.select_at(float(cat["x"][i]) + 0.5, float(cat["y"][i]) - 0.5) is not None
        stamps = view.send_selected(which)
    assert len(window.state.stamps) == 2 and stamps.images.shape == (2, 128, 128)
    assert window.state.spec is not None and (window.state.spec.id1, window.state.spec.id2) == (1, 2)
    assert window.central_tabs.currentIndex() == 0            # the editor shows the pair
    assert np.asarray(window.state.stamps.catalog["mag"])[0] == pytest.approx(float(cat["mag"][order[0]]), abs=0.2)
    window.tasks.cancel_all()
    window.tasks.wait(5000)


def test_generate_field_dialog_runs_the_sgan_in_the_background_and_opens_the_field(qtbot, tmp_path):
    from candels_gui.core.data.field_fits import read_field
    from candels_gui.gui.field_dialogs import default_model_path

    if not default_model_path().is_file():
        pytest.skip("no resources/models/sgan-sim.pt")
    view, errors = _view(qtbot)
    view.generate_dialog()
    dialog = view._dialog
    assert Path(dialog.model_edit.text()) == default_model_path()
    out = tmp_path / "gen.fits"
    dialog.size_spin.setValue(300)
    dialog.seed_spin.setValue(4)
    dialog.out_edit.setText(str(out))
    task = dialog.start()
    assert task is not None
    qtbot.waitUntil(lambda: view.field is not None and Path(view.field.path) == out, timeout=120_000)
    qtbot.waitUntil(lambda: not view.tasks.busy, timeout=60_000)
    assert errors == []
    assert view.field.shape == (300, 300)
    header = read_field(out).header
    assert header["SGANSEED"] == 4 and header["ORIGIN"] == "candels-gui field generate"
    view._close_pyramid()
