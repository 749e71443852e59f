"""Opening a blend export in the app (offscreen): its stamps, its blends in the queue, Compare on them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PyQt6.QtWidgets import QMessageBox  # noqa: E402

from candels_gui.core.data.load import load_stampset  # noqa: E402
from candels_gui.core.jobs import run_job  # noqa: E402
from candels_gui.core.store.export import read_export  # noqa: E402
from candels_gui.core.store.produce import ProduceOptions, produce  # noqa: E402
from conftest import make_stampset, window_factory  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
NAMES = ["photutils", "sep"]
pytestmark = pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "OUT"
    run_job(produce(load_stampset(SAMPLE), out, ProduceOptions(n_blends=30, seed=11)))
    return out


@pytest.fixture
def questions(monkeypatch):
    """Answers to the Save / Discard / Cancel question (the first answer given each time); asked titles kept."""
    asked: list[str] = []
    answers = [QMessageBox.StandardButton.Discard]
    monkeypatch.setattr(QMessageBox, "question",
                        staticmethod(lambda parent, title, *a, **k: (asked.append(title), answers[0])[1]))
    return asked, answers


@pytest.fixture
def make_window(qtbot, tmp_path, monkeypatch, questions):
    monkeypatch.setenv("CANDELS_GUI_RESOURCES", str(tmp_path / "resources"))  # classical deblenders only
    monkeypatch.setenv("CANDELS_GUI_AUTOSAVE_DIR", str(tmp_path / "autosave"))
    monkeypatch.setattr(QMessageBox, "critical", staticmethod(lambda *a, **k: pytest.fail(str(a))))
    monkeypatch.setattr(QMessageBox, "information", staticmethod(lambda *a, **k: None))
    with window_factory(qtbot, tmp_path, size=(1400, 950)) as make:
        yield make


def _wait_loaded(win, qtbot, path):
    qtbot.waitUntil(lambda: win.source_path == Path(path) and win.state.stamps is not None
                    and not win.tasks.busy, timeout=30000)


def _check_opened(win, path, data):
    """The export's stamps, engine and blends: the queue holds its specs (pending, in order), the editor shows
    the first, rendered to the export's bytes; nothing is unsaved."""
    session = win.session_ctl.session
    assert [item.spec for item in session.queue] == data.specs
    assert {item.status for item in session.queue} == {"pending"} and not session.modified
    assert win.state.spec == data.specs[0] and win.queue_panel.current_row() == 0
    win.editor.flush()
    blend = win.editor.last_blend
    assert blend.spec == data.specs[0]
    assert blend.image.tobytes() == data.images[0].tobytes()
    assert blend.isolated.tobytes() == data.isolated[0].tobytes()
    n_stamps = len(win.state.stamps)
    assert win.statusBar().currentMessage().startswith(
        f"Loaded {len(data.specs)} blends (test split) of {n_stamps} stamps from {path}")
    assert session.data_path == Path(path).resolve()


def test_open_an_export_fills_the_queue_and_compare_runs_on_it(make_window, qtbot, export_dir, tmp_path):
    data = read_export(export_dir, split="test")
    win = make_window(None)
    win.open_path(export_dir)                                 # File > Open data folder… on OUT
    _wait_loaded(win, qtbot, export_dir)
    _check_opened(win, export_dir, data)
    # Deblend > Compare deblenders on the queue, as for a generated session
    win.deblend_panel.set_selected(NAMES)
    win.actions_by_name["compare"].trigger()
    view = win.compare
    assert win.central_tabs.currentWidget() is view
    qtbot.waitUntil(lambda: view.grid.names == NAMES and not win.tasks.busy, timeout=60000)
    view.run_summary("summary: whole queue")
    qtbot.waitUntil(lambda: view.summary is not None and not win.tasks.busy, timeout=120000)
    n = len(data.specs)
    assert view.summary_specs == data.specs and view.summary_rows == list(range(n))
    assert view.summary.deblenders == NAMES and view.summary_table.rowCount() == 2
    for name in NAMES:
        assert view.summary.summaries[name]["n_blends"] == n
        assert list(view.summary.tables[name]["queue_row"]) == list(range(n))
        for spec, image in zip(data.specs, data.images):   # each deblender saw the export's blend images
            res = win.deblend_panel.cache.get(name, spec)
            assert res is not None and res.images.shape[1:] == image.shape
    # curating and exporting them again writes the same blends (the export's noise seeds are kept)
    from candels_gui.gui.export_dialog import run_export

    results = []
    run_export(win.session_ctl, win.services, on_exported=results.append, dest=str(tmp_path / "again.h5"),
               fmt="hdf5", method=None, statuses=("pending",), test_ratio=None)
    qtbot.waitUntil(lambda: results and results[-1] is not None, timeout=60000)
    again = read_export(tmp_path / "again.h5")
    assert again.specs == data.specs and again.images.tobytes() == data.images.tobytes()


def test_candels_gui_on_the_h5_file_and_unsaved_work_asked_first(make_window, qtbot, export_dir, questions):
    asked, answers = questions
    data = read_export(export_dir, split="test")
    win = make_window(export_dir / "blends.h5")               # `candels-gui OUT/blends.h5`
    _wait_loaded(win, qtbot, export_dir / "blends.h5")
    _check_opened(win, export_dir / "blends.h5", data)
    # other data, a queue with unsaved work: Cancel keeps it, Discard opens the export
    win.set_stamps(make_stampset(n=16, size=48, seed=1))
    win.session_ctl.session.add_random(win.state.stamps, 3)
    answers[0] = QMessageBox.StandardButton.Cancel
    win.open_path(export_dir)
    assert asked == [f"Open {export_dir.name}"] and len(win.session_ctl.session.queue) == 3
    assert not win.tasks.busy and win.state.stamps.stamp_shape == (48, 48)
    answers[0] = QMessageBox.StandardButton.Discard
    win.open_path(export_dir)
    _wait_loaded(win, qtbot, export_dir)
    assert len(asked) == 2
    _check_opened(win, export_dir, data)


def test_a_saved_session_on_an_export_keeps_its_own_queue(make_window, qtbot, tmp_path):
    export_dir = tmp_path / "OUT"                             # the session file sits beside its data
    run_job(produce(load_stampset(SAMPLE), export_dir, ProduceOptions(n_blends=30, seed=11)))
    data = read_export(export_dir, split="test")
    win = make_window(export_dir)
    _wait_loaded(win, qtbot, export_dir)
    ctl = win.session_ctl
    ctl.set_status([1], "accepted")
    ctl.remove([0])
    assert ctl.save_as(tmp_path / "s.json")
    other = make_window(None)
    other.session_ctl.open_session(tmp_path / "s.json")     # opens the export, then applies the session
    qtbot.waitUntil(lambda: other.state.stamps is not None and not other.tasks.busy
                    and other.session_ctl.session.path == tmp_path / "s.json", timeout=30000)
    queue = other.session_ctl.session.queue
    assert [item.spec for item in queue] == data.specs[1:] and queue[0].status == "accepted"
    spec = queue[0].spec
    assert other.state.engine.render(spec).image.tobytes() == data.images[1].tobytes()


def test_real_cosmos_export_opens_in_the_app(make_window, qtbot, tmp_path, cosmos_dir):
    from candels_gui.cli import main

    out = tmp_path / "cosmos"
    assert main(["produce", "-n", "40", "-d", str(cosmos_dir), "-o", str(out)]) == 0
    data = read_export(out, split="test")
    win = make_window(out)
    _wait_loaded(win, qtbot, out)
    _check_opened(win, out, data)
    assert "stamp_library" in win.state.stamps.source and str(cosmos_dir) in win.state.stamps.source
    win.deblend_panel.set_selected(["sep"])
    view = win.compare
    win.actions_by_name["compare"].trigger()
    qtbot.waitUntil(lambda: view.grid.names == ["sep"] and not win.tasks.busy, timeout=60000)
    view.run_summary("summary: whole queue")
    qtbot.waitUntil(lambda: view.summary is not None and not win.tasks.busy, timeout=120000)
    assert view.summary.summaries["sep"]["n_blends"] == len(data.specs)
    assert np.isfinite(view.summary.summaries["sep"]["iou_mean"])


def test_screenshot_of_an_export_shows_its_first_blend(qtbot, export_dir, tmp_path):
    from PyQt6.QtGui import QImage

    from candels_gui.core.store.export_open import read_export_blends
    from candels_gui.gui.screenshot import take_screenshot

    out = take_screenshot(tmp_path / "export.png", data=export_dir, size=(1300, 820))   # was a DataError
    picture = QImage(str(out))
    assert (picture.width(), picture.height()) == (1300, 820)
    stamps, specs, info = read_export_blends(export_dir)
    assert specs, "the fixture's export has test blends"


def test_opening_other_data_lets_a_running_export_finish(make_window, qtbot, export_dir, tmp_path, questions):
    """An export works on a snapshot of the queue: opening other data while it runs does not cancel it (it did,
    silently: nothing written, its 'cancelled' line at once replaced by 'Loaded …')."""
    from candels_gui.gui.export_dialog import run_export

    asked, _ = questions
    win = make_window(SAMPLE)
    _wait_loaded(win, qtbot, SAMPLE)
    win.session_ctl.session.add_random(win.state.stamps, 200)
    specs = [item.spec for item in win.session_ctl.session.queue]
    results = []
    run_export(win.session_ctl, win.services, on_exported=results.append, dest=str(tmp_path / "snap.h5"),
               fmt="hdf5", method=None, statuses=("pending",), test_ratio=None)
    win.open_path(export_dir)                                  # at once, while the export runs
    assert asked == [f"Open {export_dir.name}"]                # the unsaved queue was asked about
    _wait_loaded(win, qtbot, export_dir)                       # and the export has finished too
    assert results[-1] is not None and results[-1].n_blends == 200
    assert read_export(tmp_path / "snap.h5").specs == specs
