"""The desktop app, offscreen (pytest-qt; Qt warnings fail tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from astropy.table import Table  # noqa: E402
from PyQt6.QtCore import QMimeData, QPoint, QPointF, QSettings, Qt, QUrl  # noqa: E402
from PyQt6.QtGui import QDropEvent  # noqa: E402
from PyQt6.QtWidgets import QMessageBox  # noqa: E402

from candels_gui.core.data.catalog import CatalogFilter  # noqa: E402
from candels_gui.core.display.stretch import build_lut, get_stretch  # noqa: E402
from candels_gui.gui.actions import ACTIONS, MENUS, shortcut_text  # noqa: E402
from candels_gui.gui.app import MainWindow  # noqa: E402
from candels_gui.gui.catalog_model import CatalogModel  # noqa: E402
from conftest import make_stampset  # noqa: E402

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"


@pytest.fixture
def settings(tmp_path):
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def errors(monkeypatch):
    """Capture error dialogs (the window's logic still runs; only the modal box is replaced)."""
    seen: list[tuple[str, str]] = []
    monkeypatch.setattr(QMessageBox, "critical",
                        staticmethod(lambda parent, title, text, *a, **k: seen.append((title, text))))
    return seen


@pytest.fixture
def window(qtbot, settings, errors):
    win = MainWindow(make_stampset(n=16, size=48, seed=1), settings=settings)
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.tasks.cancel_all()
    win.tasks.wait(5000)


def _line_of_id(win, galaxy_id):
    return win.catalog.model.line_of(win.state.stamps.index_of(galaxy_id))


def test_window_opens_on_a_stampset_with_a_blend(window, qtbot):
    stamps = window.state.stamps
    assert window.catalog.model.rowCount() == len(stamps) == 16
    spec = window.state.spec
    assert spec is not None and spec.id1 != spec.id2  # a random pair from the sampling rules
    blend = window.editor.last_blend
    assert blend.spec == spec
    np.testing.assert_array_equal(window.editor.blend_view.raw(), blend.image)
    g1 = window.state.engine.cleaned(spec.id1, spec.seed).image
    np.testing.assert_array_equal(window.editor.g1_view.raw(), g1)
    assert window.editor.masks_view.image_item.image.shape == (48, 48, 4)
    # the readout follows the frame's paint
    qtbot.waitUntil(lambda: "%" in window.editor.metrics.text("overlap"), timeout=2000)
    assert "16 stamps" in window.data_label.text()


def test_pick_a_pair_through_the_catalog_panel(window, qtbot):
    ids = window.state.stamps.ids
    table = window.catalog.table
    window.catalog.table.selectRow(_line_of_id(window, ids[3]))
    window.catalog.g1_button.click()
    assert window.state.spec.id1 == ids[3]
    # key 2 on the table picks galaxy 2 (the shortcut of the action table)
    table.selectRow(_line_of_id(window, ids[7]))
    table.setFocus()
    window.activateWindow()
    qtbot.keyClick(table, Qt.Key.Key_2)
    assert window.state.spec.id2 == ids[7]
    # double-click on a row = galaxy 1
    rect = table.visualRect(window.catalog.model.index(_line_of_id(window, ids[5]), 0))
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())  # as a real
    qtbot.mouseDClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())  # double-click
    assert window.state.spec.id1 == ids[5]
    assert window.editor.last_blend.spec == window.state.spec
    assert window.catalog.current_stamp() == window.state.stamps.index_of(ids[5])
    assert window.catalog.thumb.pixmap() is not None and not window.catalog.thumb.pixmap().isNull()
    assert "ID " in window.catalog.thumb_caption.text()


def test_filters_are_the_core_catalog_filter(window, qtbot):
    panel = window.catalog
    cat = window.state.stamps.catalog
    mag_cut = float(np.median(cat["mag"]))
    panel.mag.high.setValue(mag_cut)
    panel.types["sph"].setChecked(False)
    panel.apply_filter()
    expected = CatalogFilter(mag_high=round(mag_cut, 2), excluded_types=("sph",)).mask(cat)
    assert window.state.filter == CatalogFilter(mag_high=round(mag_cut, 2), excluded_types=("sph",))
    assert panel.model.rowCount() == int(expected.sum())
    shown = {panel.model.stamp_index(r) for r in range(panel.model.rowCount())}
    assert shown == set(np.flatnonzero(expected))
    assert f"{int(expected.sum())} of 16" in panel.count.text()
    # random pairs come from the filtered pool only
    for _ in range(3):
        spec = window.state.random_pair()
        assert {window.state.stamps.index_of(spec.id1), window.state.stamps.index_of(spec.id2)} <= shown


def test_a_filter_set_elsewhere_shows_in_the_boxes_and_survives_the_next_edit(window, qtbot):
    """A session's filter (mag <= 25) showed 'N of 16' while the boxes still showed no cut, and the next edit in
    the panel (typing in the ID box and clearing it) dropped it; at the data's maximum the upper box read as a
    bound the user never set."""
    panel = window.catalog
    assert panel.current_filter() == CatalogFilter()          # fresh data: no bound, whatever the rounding
    cat = window.state.stamps.catalog
    cut = round(float(np.median(cat["mag"])), 2)
    window.state.set_filter(CatalogFilter(mag_high=cut, excluded_types=("irr",)))   # as a session restores it
    assert panel.mag.high.value() == pytest.approx(cut) and not panel.types["irr"].isChecked()
    panel.id_search.setText("1")
    panel.apply_filter()
    panel.id_search.setText("")
    panel.apply_filter()
    assert window.state.filter == CatalogFilter(mag_high=cut, excluded_types=("irr",))


def test_random_pair_is_seeded_and_obeys_the_rules(window, settings, qtbot):
    first = [window.state.random_pair() for _ in range(3)]
    other = MainWindow(make_stampset(n=16, size=48, seed=1), settings=settings)
    qtbot.addWidget(other)
    again = [other.state.random_pair() for _ in range(3)]  # both windows drew draw 0 at start
    assert [s.to_dict() for s in again] == [s.to_dict() for s in first]
    mags = dict(zip(window.state.stamps.ids, window.state.stamps.catalog["mag"]))
    assert all(abs(mags[s.id1] - mags[s.id2]) < window.state.rules.mag_diff for s in first)


def test_dragging_the_companion_changes_spec_and_preview(window, qtbot):
    editor = window.editor
    before_spec = window.state.spec
    before_image = editor.blend_view.raw().copy()
    cx, cy = editor.centre()
    frames = editor.frames
    # live moves are throttled: several moves, at most one frame per interval, then one exact frame
    for k in range(5):
        editor.handle.move_to(cx + 6.0 + 0.1 * k, cy - 4.25, final=False)
    assert window.state.spec.dx == pytest.approx(6.4) and window.state.spec.dy == pytest.approx(-4.25)
    qtbot.waitUntil(lambda: editor.frames > frames, timeout=2000)
    assert editor.frames - frames <= 2
    editor.handle.move_to(cx + 7.3, cy - 4.5, final=True)
    spec = window.state.spec
    assert (spec.dx, spec.dy) == (pytest.approx(7.3), pytest.approx(-4.5))
    assert spec.id1 == before_spec.id1 and spec.id2 == before_spec.id2
    assert editor.last_blend.spec == spec
    exact = window.state.engine.render(spec).image
    np.testing.assert_array_equal(editor.blend_view.raw(), exact)
    assert not np.array_equal(before_image, exact)
    assert window.editor.controls.dx.value() == pytest.approx(7.3)


def test_mouse_drag_on_the_blend_view_moves_the_companion(window, qtbot):
    editor = window.editor
    view = editor.blend_view
    start = editor.companion_position()
    to_widget = lambda x, y: view.mapFromScene(view.vb.mapViewToScene(QPointF(x, y)))  # noqa: E731
    p0 = to_widget(*start)
    p1 = to_widget(start[0] - 5.0, start[1] + 3.0)
    qtbot.mousePress(view.viewport(), Qt.MouseButton.LeftButton, pos=p0)
    for t in np.linspace(0.1, 1.0, 6):
        p = QPoint(int(p0.x() + t * (p1.x() - p0.x())), int(p0.y() + t * (p1.y() - p0.y())))
        qtbot.wait(20)  # pyqtgraph drops mouse moves closer than one frame apart
        qtbot.mouseMove(view.viewport(), p)
    qtbot.mouseRelease(view.viewport(), Qt.MouseButton.LeftButton, pos=p1)
    end = editor.companion_position()
    assert end[0] < start[0] - 3.0 and end[1] > start[1] + 1.5
    cx, cy = editor.centre()
    spec = window.state.spec
    assert spec.dx == pytest.approx(round(end[0] - cx, 2)) and spec.dy == pytest.approx(round(end[1] - cy, 2))
    assert editor.last_blend.spec == spec  # the exact frame after release


def test_controls_edit_the_spec(window):
    controls = window.editor.controls
    controls.rotation.setValue(45.0)
    controls.flip.setChecked(True)
    controls.dmag.setValue(1.0)
    spec = window.state.spec
    assert spec.rotation == 45.0 and spec.flip
    assert spec.flux_scale == pytest.approx(10 ** -0.4)
    assert controls.flux.value() == pytest.approx(round(10 ** -0.4, 3))
    assert window.editor.last_blend.spec == spec
    window.actions_by_name["nudge_left"].trigger()
    assert window.state.spec.dx == pytest.approx(spec.dx - 1.0)
    window.actions_by_name["reset_transform"].trigger()
    assert window.state.spec.rotation == 0.0 and not window.state.spec.flip
    assert window.state.spec.flux_scale == 1.0


def test_changing_the_display_model_updates_the_views(window):
    display, view = window.display, window.editor.blend_view
    display.set(stretch="log", log_a=100.0, cmap="inferno")
    np.testing.assert_array_equal(view.image_item.lut, display.lut())
    assert window.display_panel.stretch.currentText() == "log"
    assert window.display_panel.softening.value() == pytest.approx(100.0)
    assert window.display_panel.cmap.currentText() == "inferno"
    grey_log = build_lut(get_stretch("log", a=100.0), n=len(display.lut()))
    assert not np.array_equal(display.lut(), grey_log)  # the colormap is in the LUT
    lut_before = view.image_item.lut
    display.set_levels(-0.1, 2.0)
    assert tuple(view.image_item.getLevels()) == pytest.approx((-0.1, 2.0))
    assert tuple(window.editor.g2_view.image_item.getLevels()) == pytest.approx((-0.1, 2.0))
    assert view.image_item.lut is lut_before  # moving levels does not rebuild the LUT
    assert window.display_panel.histogram.item.getLevels() == pytest.approx((-0.1, 2.0))
    assert "(manual)" in window.display_panel.levels_label.text()
    # widgets -> model
    window.display_panel.interval.setCurrentText("zscale")
    assert display.settings.interval == "zscale" and display.settings.levels is None
    window.display_panel.outline.setChecked(False)
    assert display.mask_outline is False
    window.actions_by_name["toggle_masks"].trigger()
    assert display.mask_visible is False and not view.overlay_item.isVisible()
    assert window.display_panel.show_masks.isChecked() is False


def test_histogram_region_sets_manual_levels(window):
    hist = window.display_panel.histogram
    hist.item.region.setRegion((0.05, 1.5))
    assert window.display.settings.levels == pytest.approx((0.05, 1.5))
    assert tuple(window.editor.blend_view.image_item.getLevels()) == pytest.approx((0.05, 1.5))
    window.actions_by_name["auto_levels"].trigger()
    assert window.display.settings.levels is None


def test_cheat_sheet_lists_every_action(window):
    window.actions_by_name["cheat_sheet"].trigger()
    dialog = window._cheat_sheet
    rows = dialog.rows()
    assert len(rows) == len(ACTIONS)
    for spec, (keys, text, menu) in zip(ACTIONS, rows):
        assert text == spec.plain_text
        assert keys == (shortcut_text(spec) or "—")
        assert menu == spec.menu.replace("&", "")
    menu_texts = {a.text() for m in window.menus.values() for a in m.actions()}
    assert {s.text for s in ACTIONS} <= menu_texts
    assert [m.title() for m in window.menus.values()] == list(MENUS)
    on_toolbar = {a.text() for a in window.toolbar.actions() if not a.isSeparator()}
    assert on_toolbar == {s.text for s in ACTIONS if s.toolbar}
    dialog.close()


def test_errors_show_a_dialog_with_the_core_message(window, qtbot, errors, tmp_path):
    window.open_path(tmp_path / "missing")
    qtbot.waitUntil(lambda: not window.tasks.busy, timeout=5000)
    assert errors and "no such file or folder" in errors[-1][1]
    assert "Traceback" not in errors[-1][1]
    # what the user can put right at once is said in the status bar, in the panel's words (not a dialog
    # naming mag_low or 'a pool of 0 galaxies')
    n_errors = len(errors)
    window.catalog.id_search.setText("no-such-id")
    window.catalog.apply_filter()
    window.actions_by_name["random_pair"].trigger()
    assert "No galaxy passes the catalog's filters" in window.statusBar().currentMessage()
    window.catalog.reset_filters()
    window.catalog.mag.low.setValue(window.catalog.mag.high.value() - 0.01)
    window.catalog.mag.high.setValue(window.catalog.mag.low.value() - 1)
    window.catalog.apply_filter()
    assert "Magnitude: the lower bound" in window.statusBar().currentMessage()
    window.catalog.reset_filters()
    spec = window.state.spec
    window.catalog.select_stamp(window.state.stamps.index_of(spec.id1))
    window.catalog.pick_current(2)                      # galaxy 1 as galaxy 2: no blend of a galaxy with itself
    assert window.state.spec == spec and "is galaxy 1 already" in window.statusBar().currentMessage()
    assert len(errors) == n_errors


@pytest.mark.skipif(not (SAMPLE / "candels_img.npy").exists(), reason="sample data not generated")
def test_open_sample_data_in_a_worker_and_by_drop(qtbot, settings, errors):
    win = MainWindow(SAMPLE, settings=settings)
    qtbot.addWidget(win)
    qtbot.waitUntil(lambda: win.state.stamps is not None, timeout=10000)
    qtbot.waitUntil(lambda: not win.tasks.busy, timeout=5000)
    assert win.state.spec is not None and win.editor.last_blend is not None
    assert win.recent_paths()[0] == str(SAMPLE.resolve())
    first = win.state.stamps
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(SAMPLE))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                       Qt.KeyboardModifier.NoModifier)
    win.dropEvent(event)
    qtbot.waitUntil(lambda: win.state.stamps is not first, timeout=10000)
    qtbot.waitUntil(lambda: not win.tasks.busy, timeout=5000)
    assert not errors
    win.close()


def test_window_layout_is_kept(qtbot, settings):
    win = MainWindow(None, settings=settings)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    win.display_dock.hide()
    win.close()
    assert settings.value("window/geometry") is not None
    again = MainWindow(None, settings=settings)
    qtbot.addWidget(again)
    again.show()
    assert again.display_dock.isHidden() and not again.catalog_dock.isHidden()


def test_catalog_model_sorts_and_filters_100k_rows():
    n = 100_000
    rng = np.random.default_rng(0)
    cat = Table({"id": np.arange(n) + 1, "ra": rng.uniform(0, 1, n), "dec": rng.uniform(0, 1, n),
                 "mag": rng.uniform(18, 27, n), "radius": rng.uniform(1, 10, n), "z": rng.uniform(0, 4, n),
                 "galtype": np.array(["irr", "disk", "sph", "sphd"])[rng.integers(0, 4, n)],
                 "segval": np.arange(n)})
    cat["z"][5] = np.nan
    model = CatalogModel(cat)
    assert model.rowCount() == n and "segval" not in model.columns
    mag_col = model.columns.index("mag")
    model.sort(mag_col, Qt.SortOrder.DescendingOrder)
    mags = cat["mag"][model.rows]
    assert np.all(np.diff(mags) <= 0)
    keep = np.flatnonzero(CatalogFilter(mag_high=20.0).mask(cat))
    model.set_rows(keep)  # the sort is kept
    assert model.rowCount() == keep.size and np.all(np.diff(cat["mag"][model.rows]) <= 0)
    z_col = model.columns.index("z")
    model.set_rows(np.arange(n))
    model.sort(z_col, Qt.SortOrder.DescendingOrder)
    assert model.rows[-1] == 5  # unknown redshift sorts last both ways
    text = model.data(model.index(0, mag_col))
    assert text == f"{cat['mag'][model.rows[0]]:.2f}"


def test_rules_panel_sets_the_core_sampling_rules(window, errors):
    panel = window.rules_panel
    panel.mag_diff.setValue(0.5)
    panel.uniform.setChecked(True)
    panel.subpixel.setChecked(True)
    panel.rotate.setChecked(True)
    panel.seed.setValue(7)
    rules = window.state.rules
    assert (rules.mag_diff, rules.uniform_area, rules.subpixel, rules.random_rotation) == \
        (0.5, True, True, True)
    assert window.state.seed == 7 and window.state.random_index == 0
    mags = dict(zip(window.state.stamps.ids, window.state.stamps.catalog["mag"]))
    for _ in range(3):
        spec = window.state.random_pair()
        assert abs(mags[spec.id1] - mags[spec.id2]) < 0.5 and spec.seed == 7
    assert not errors


def test_run_app_opens_and_closes(qtbot, monkeypatch, tmp_path):
    import sys

    from PyQt6.QtCore import QTimer
    from PyQt6.QtWidgets import QApplication

    from candels_gui.gui import app as app_module
    from candels_gui.gui import launch

    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # run_app installs its own; restore it after
    monkeypatch.setattr(app_module, "app_settings",
                        lambda: QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    seen = []

    def close_windows():
        for w in QApplication.topLevelWidgets():
            if isinstance(w, MainWindow) and w.isVisible():
                seen.append(w.windowTitle())
                w.close()

    QTimer.singleShot(300, close_windows)
    assert launch.run_app(None) == 0
    assert seen == ["candels-gui"]


@pytest.mark.skipif(not (SAMPLE / "candels_img.npy").exists(), reason="sample data not generated")
def test_screenshot_writes_a_picture(tmp_path):
    from PyQt6.QtGui import QImage

    from candels_gui.gui.screenshot import take_screenshot

    out = take_screenshot(tmp_path / "pics" / "editor.png", data=SAMPLE, size=(1300, 820))
    image = QImage(str(out))
    assert (image.width(), image.height()) == (1300, 820)
    with pytest.raises(ValueError, match="unknown view 'nope'"):  # (the compare view: test_gui_compare.py)
        take_screenshot(tmp_path / "r.png", view="nope", data=SAMPLE)


def test_progress_text_gives_the_count_and_then_the_time_left():
    from candels_gui.core.jobs import Progress
    from candels_gui.gui.workers import progress_text

    marks: dict = {}
    assert progress_text(Progress(4, 100, "statmorph"), marks, now=0.0) == "statmorph 4 of 100"
    assert progress_text(Progress(6, 100, "statmorph"), marks, now=1.0) == "statmorph 6 of 100"   # too soon to say
    # 8 galaxies in 10 s: the other 88 in about 110 s
    assert progress_text(Progress(12, 100, "statmorph"), marks, now=10.0) == "statmorph 12 of 100 · about 2 min left"
    assert progress_text(Progress(96, 100, "statmorph"), marks, now=20.0).endswith("about 1 s left")
    assert progress_text(Progress(0, 0, "loading"), marks) == "loading"                  # no total: the words only


def test_worker_reports_progress_and_cancels_cleanly(window, qtbot):
    import time

    from candels_gui.core.jobs import Progress, check_cancel

    def slow_job(token, n=400):
        for i in range(n):
            check_cancel(token)
            time.sleep(0.005)
            yield Progress(i + 1, n, "counting")
        return n

    results, cancels, progress = [], [], []
    window.tasks.progress.connect(progress.append)
    own = []
    task = window.tasks.run_job("Counting", slow_job, on_result=results.append,
                                on_error=pytest.fail, on_cancel=lambda: cancels.append(True), on_progress=own.append)
    qtbot.waitUntil(lambda: len(progress) >= 2, timeout=5000)
    assert own and own[0].message == "counting" and own[0].total == 400     # the job's own reports, to its caller
    assert window.task_bar.isVisible() and window.task_bar.label.text().startswith("counting ")
    assert " of 400" in window.task_bar.label.text()      # the count, not only the task's name
    window.task_bar.cancel_button.click()
    qtbot.waitUntil(lambda: not window.tasks.busy, timeout=5000)
    assert cancels == [True] and results == [] and task.done
    assert not window.task_bar.isVisible()
    window.tasks.run_job("Short", lambda token: slow_job(token, 3), on_result=results.append,
                         on_error=pytest.fail)
    qtbot.waitUntil(lambda: results == [3], timeout=5000)


def test_unexpected_errors_become_dialogs(window, monkeypatch, errors):
    import sys

    from candels_gui.gui.launch import _install_excepthook

    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    _install_excepthook(window)
    try:
        raise RuntimeError("the engine stalled")
    except RuntimeError as exc:
        sys.excepthook(type(exc), exc, exc.__traceback__)
    assert errors[-1] == ("Unexpected error", "RuntimeError: the engine stalled")


def test_readouts_follow_the_frames_paint(window, qtbot):
    """An offset change paints the blend first; the metrics readout and the levels histogram are measured after
    that paint (they once ran in a zero timer, which Qt fires before the paint the new image schedules)."""
    from candels_gui.core.blending.blend_metrics import blend_metrics
    from candels_gui.gui.bench_gui import _PaintCounter

    editor, hist = window.editor, window.display_panel.histogram
    qtbot.waitUntil(lambda: not editor.after_paint.pending and not hist._hist_timer.isActive(), timeout=2000)
    painted = _PaintCounter(editor.blend_view.viewport())
    seen: dict[str, int] = {}
    show_metrics, update_histogram = editor._show_metrics, hist._update_histogram

    def metrics_spy():
        seen.setdefault("metrics", painted.count)
        show_metrics()

    def histogram_spy():
        seen.setdefault("histogram", painted.count)
        update_histogram()

    editor._show_metrics, hist._update_histogram = metrics_spy, histogram_spy
    cx, cy = editor.centre()
    editor.handle.move_to(cx + 3.5, cy - 2.25, final=True)
    assert editor.last_blend.spec.dx == 3.5 and seen == {}       # rendered; nothing measured yet
    qtbot.waitUntil(lambda: len(seen) == 2, timeout=2000)
    assert seen["metrics"] >= 1 and seen["histogram"] >= 1, seen  # both after the new frame's paint
    expected = blend_metrics(editor.last_blend, window.state.stamps)
    assert editor.last_metrics == expected
    assert window.editor.metrics.text("overlap") == f"{100 * expected.overlap_fraction:.1f} %"


def test_a_small_screen_gets_one_column_of_docks(qtbot, settings):
    """On a 1024x640 screen the docks side by side (1,219 px at least) do not fit: the Display dock joins the
    Catalog and Queue docks as a tab and the window fits the screen; a 1280x800 screen keeps the layout."""
    from PyQt6.QtCore import QRect

    from candels_gui.gui.launch import fit_to_screen

    for (w, h), tabbed in (((1280, 800), False), ((1024, 640), True)):
        win = MainWindow(make_stampset(n=16, size=48, seed=1), settings=settings)
        qtbot.addWidget(win)
        win.resize(1600, 1000)
        assert fit_to_screen(win, QRect(0, 0, w, h))
        win.show()
        qtbot.waitExposed(win)
        assert win.width() <= w and win.height() <= h
        assert (win.display_dock in win.tabifiedDockWidgets(win.catalog_dock)) == tabbed
        assert win.dockWidgetArea(win.display_dock) == (Qt.DockWidgetArea.LeftDockWidgetArea if tabbed else
                                                        Qt.DockWidgetArea.RightDockWidgetArea)
        win.close()
