"""The Compare view: deblenders side by side, metric tables from core metrics, summary plots (offscreen)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from astropy.table import Table  # noqa: E402
from PyQt6.QtCore import QPoint, QSettings, Qt  # noqa: E402
from PyQt6.QtGui import QImage  # noqa: E402
from PyQt6.QtWidgets import QMessageBox  # noqa: E402

from candels_gui.core.measure import metrics as M  # noqa: E402
from candels_gui.core.blending.labels import blend_fluxes  # noqa: E402
from candels_gui.core.measure.binned import (SUMMARY_KEYS, Truth, per_blend_table,  # noqa: E402
                                             summarize_table)
from candels_gui.core.measure.shapes import hsm_shapes, shape_errors  # noqa: E402
from candels_gui.core.measure.binned import SEPARATION_BINS, binned_metric  # noqa: E402
from candels_gui.gui.compare_plots import BINNED_METRICS  # noqa: E402
from candels_gui.evaluation.evaluate import to_prediction  # noqa: E402
from candels_gui.gui.app import MainWindow  # noqa: E402
from candels_gui.gui.compare_grid import BLEND_COLUMNS, COLUMN_TITLES, format_metric  # noqa: E402
from conftest import make_stampset  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
NAMES = ["photutils", "sep"]
pytestmark = pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("CANDELS_GUI_RESOURCES", str(tmp_path / "resources"))  # no torch weights
    monkeypatch.setenv("CANDELS_GUI_AUTOSAVE_DIR", str(tmp_path / "autosave"))
    monkeypatch.setattr(QMessageBox, "critical", staticmethod(lambda *a, **k: pytest.fail(str(a))))
    # closing with a queue asks Save / Discard; these tests are not about that (nor hang when one fails)
    discard = QMessageBox.StandardButton.Discard
    monkeypatch.setattr(QMessageBox, "question", staticmethod(lambda *a, **k: discard))
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(make_stampset(n=16, size=48, seed=1), settings=settings)
    qtbot.addWidget(win)
    win.resize(1400, 950)
    win.show()
    qtbot.waitExposed(win)
    win.deblend_panel.set_selected(NAMES)
    yield win
    win.tasks.cancel_all()
    win.tasks.wait(10000)


def _shown_compare(window, qtbot):
    window.actions_by_name["compare"].trigger()  # Ctrl+Shift+D: the Compare tab, missing results run
    view = window.compare
    assert window.central_tabs.currentWidget() is view
    qtbot.waitUntil(lambda: view.grid.names == NAMES and not window.tasks.busy, timeout=30000)
    return view


def _truth_xy(spec, shape):
    h, w = shape
    return np.array([[w // 2, h // 2], [w // 2 + spec.dx, h // 2 + spec.dy]], float)


def test_two_deblenders_side_by_side_share_stretch_levels_and_pan_zoom(window, qtbot):
    view = _shown_compare(window, qtbot)
    grid, display = view.grid, window.display
    assert len(grid.boxes) == 2 and all(len(row) == len(COLUMN_TITLES) == 6 for row in grid.boxes)
    spec = window.state.spec
    blend = window.state.engine.render(spec)
    shown = grid.shown()
    for r, name in enumerate(NAMES):
        res = window.deblend_panel.cache.get(name, spec)
        det = M.match_detections(_truth_xy(spec, blend.image.shape),
                                 np.column_stack([res.catalog["x"], res.catalog["y"]])).det_for_true()
        np.testing.assert_array_equal(shown[r][0], blend.image)
        np.testing.assert_array_equal(shown[r][1], blend.isolated[0])
        np.testing.assert_array_equal(shown[r][2], blend.isolated[1])
        for k in (0, 1):  # output k is the source matched to truth galaxy k (Hungarian on positions)
            if det[k] >= 0:
                np.testing.assert_array_equal(shown[r][3 + k], res.images[det[k]])
            else:
                assert shown[r][3 + k] is None
        np.testing.assert_allclose(shown[r][5], blend.image - res.images.sum(axis=0), atol=1e-5)
    # one stretch and one pair of levels in every panel, following the display model
    items = [item for row in grid.items for item in row if item.image is not None]
    assert len(items) >= 10
    for item in items:
        assert tuple(item.getLevels()) == pytest.approx(display.levels)
        np.testing.assert_array_equal(item.lut, display.lut())
    display.set_levels(-0.1, 0.7)
    display.set(stretch="log")
    for item in items:
        assert tuple(item.getLevels()) == pytest.approx((-0.1, 0.7))
        np.testing.assert_array_equal(item.lut, display.lut())
    # linked: moving one view moves all of them (views of one size show the same region)
    sizes = {(round(vb.width()), round(vb.height())) for vb in grid.all_boxes()}
    assert len(sizes) == 1, sizes
    grid.boxes[1][4].setRange(xRange=(10.0, 20.0), yRange=(12.0, 22.0), padding=0)
    qtbot.wait(10)
    ref = grid.boxes[1][4].viewRange()
    assert ref[0][1] - ref[0][0] < 0.75 * blend.image.shape[1]  # zoomed in (the aspect lock may widen it)
    for vb in grid.all_boxes():
        (x0, x1), (y0, y1) = vb.viewRange()
        assert (x0 + x1) / 2 == pytest.approx(15.0, abs=0.5) and (y0 + y1) / 2 == pytest.approx(17.0, abs=0.5)
        assert vb.viewRange() == [pytest.approx(ref[0], abs=1e-3), pytest.approx(ref[1], abs=1e-3)]


def test_metric_table_equals_core_metrics_on_the_same_arrays(window, qtbot):
    view = _shown_compare(window, qtbot)
    spec = window.state.spec
    blend = window.state.engine.render(spec)
    flux = blend_fluxes(window.state.stamps, [spec])[0]
    assert view.blend_table.rowCount() == 2
    for r, name in enumerate(NAMES):
        res = window.deblend_panel.cache.get(name, spec)
        det = M.match_detections(_truth_xy(spec, blend.image.shape),
                                 np.column_stack([res.catalog["x"], res.catalog["y"]])).det_for_true()
        h, w = blend.image.shape
        pred_img = [res.images[j] if j >= 0 else np.zeros((h, w)) for j in det]
        pred_seg = [res.segmentation[j] if j >= 0 else np.zeros((h, w), bool) for j in det]
        pred_flux = np.array([res.catalog["flux"][j] if j >= 0 else 0.0 for j in det])
        dmag = M.delta_mag(flux, pred_flux)
        expected = {
            "n_det": res.n_sources,
            "iou_1": M.iou(blend.masks[0], pred_seg[0]), "iou_2": M.iou(blend.masks[1], pred_seg[1]),
            "dmag_1": dmag[0], "dmag_2": dmag[1],
            "rmse": np.mean([M.rmse(blend.isolated[g], pred_img[g]) for g in (0, 1)]),
            "psnr": np.mean([M.psnr(blend.isolated[g], pred_img[g]) for g in (0, 1)]),
            "ssim": np.mean([M.ssim(blend.isolated[g], pred_img[g]) for g in (0, 1)]),
            "shape_err": np.nanmean(shape_errors(
                hsm_shapes(blend.isolated, _truth_xy(spec, blend.image.shape)),
                hsm_shapes(np.stack(pred_img), _truth_xy(spec, blend.image.shape))
                * np.where(np.array(det)[:, None] >= 0, 1.0, np.nan))),
        }
        got = view.blend_table.values[name]
        for key, _header in BLEND_COLUMNS:
            np.testing.assert_allclose(float(got[key]), float(expected[key]), rtol=1e-6, atol=1e-9,
                                       err_msg=f"{name} {key}")
            assert view.blend_table.text(r, key) == format_metric(key, expected[key])
        assert view.comparison.matched(name) == tuple(int(j) for j in det)


def test_dataset_summary_over_the_queue_and_a_click_opens_the_blend(window, qtbot, tmp_path):
    stamps = window.state.stamps
    session = window.session_ctl.session
    session.add_random(stamps, 5)
    view = _shown_compare(window, qtbot)
    view.run_summary("summary: whole queue")
    qtbot.waitUntil(lambda: view.summary is not None and not window.tasks.busy, timeout=30000)
    result = view.summary
    specs = [item.spec for item in session.queue]
    assert view.summary_specs == specs and view.summary_rows == list(range(5))
    assert result.deblenders == NAMES and view.summary_table.rowCount() == 2
    batch = window.state.engine.render_batch(specs)
    truth = Truth.from_batch(batch, blend_fluxes(stamps, specs))
    for name in NAMES:
        summary = result.summaries[name]
        assert tuple(summary) == SUMMARY_KEYS and summary["n_blends"] == 5
        preds = [to_prediction(window.deblend_panel.cache.get(name, s)) for s in specs]
        expected = summarize_table(per_blend_table(truth, preds))
        for key in SUMMARY_KEYS:
            np.testing.assert_allclose(float(summary[key]), float(expected[key]), rtol=1e-9, err_msg=key)
            np.testing.assert_equal(view.summary_table.values[name][key], summary[key])
        assert list(result.tables[name]["queue_row"]) == list(range(5))
    # the plots: one scatter per deblender, two galaxies per blend where Δmag is defined
    plots = view.plots
    assert set(plots.scatter_items) == set(NAMES) and set(plots.hist_items) == set(NAMES)
    n_finite = np.isfinite(np.concatenate([result.tables["sep"]["dmag_1"], result.tables["sep"]["dmag_2"]]))
    assert len(plots.scatter_items["sep"].points()) == int(n_finite.sum()) > 0
    # every binned metric draws each deblender's values per separation bin, the shape residual too
    for label, (column, statistic, _axis) in BINNED_METRICS.items():
        plots.metric_box.setCurrentText(label)
        for name in NAMES:
            table = result.tables[name]
            sep = np.asarray(table["separation"], float)
            values = np.concatenate([np.asarray(table[f"{column}_{g}"], float) for g in (1, 2)])
            expected = binned_metric(np.concatenate([sep, sep]), values, SEPARATION_BINS, statistic=statistic)
            if np.isfinite(expected).any():
                np.testing.assert_allclose(plots.binned_items[name].getData()[1], expected, err_msg=label)
            else:                                              # nothing in any bin: no curve
                assert name not in plots.binned_items, label
        assert set(plots.binned_items) == set(NAMES) or label.startswith("Δmag"), label
    assert "|Δg| (mean)" in BINNED_METRICS
    # calling the click handler with a point opens that blend (its queue row is selected)
    current = window.state.spec
    points = [p for name in NAMES for p in plots.scatter_items[name].points()]
    target = next(p for p in points if specs[p.data()[0]] != current)
    plots.points_clicked(plots.scatter_items["sep"], [target])
    blend = target.data()[0]
    window.editor.flush()
    assert window.state.spec == specs[blend] and window.editor.last_blend.spec == specs[blend]
    assert window.queue_panel.current_row() == blend and session.current_item == blend
    # a real mouse click at another point's position does the same
    shown = plots.scatter.getPlotItem().vb.viewRect()
    name, index = next((n, i) for n in NAMES for i, p in enumerate(plots.scatter_items[n].points())
                       if specs[p.data()[0]] != window.state.spec and shown.contains(p.pos()))
    other = plots.scatter_items[name].points()[index].data()[0]
    qtbot.wait(50)
    scene = plots.point_scene_pos(name, index)
    pos = plots.scatter.mapFromScene(scene)
    qtbot.mouseClick(plots.scatter.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(pos.x(), pos.y()))
    qtbot.waitUntil(lambda: window.state.spec == specs[other], timeout=5000)
    assert window.queue_panel.current_row() == other
    # save the figure (PNG) and the tables (CSV)
    png = view.save_png(tmp_path / "out" / "compare.png")
    image = QImage(str(png))
    assert not image.isNull() and image.width() == view.width() and image.height() == view.height()
    written = view.save_csv(tmp_path / "csv")
    assert sorted(p.name for p in written) == ["compare_blend.csv", "compare_per_blend_photutils.csv",
                                               "compare_per_blend_sep.csv", "compare_summary.csv"]
    summary_csv = Table.read(tmp_path / "csv" / "compare_summary.csv", format="ascii.csv")
    assert list(summary_csv["deblender"]) == NAMES and set(SUMMARY_KEYS) <= set(summary_csv.colnames)
    np.testing.assert_allclose(summary_csv["iou_mean"], [result.summaries[n]["iou_mean"] for n in NAMES])
    blend_csv = Table.read(tmp_path / "csv" / "compare_blend.csv", format="ascii.csv")
    assert list(blend_csv["deblender"]) == NAMES and list(blend_csv["id1"]) == [window.state.spec.id1] * 2
    per_blend = Table.read(tmp_path / "csv" / "compare_per_blend_sep.csv", format="ascii.csv")
    assert len(per_blend) == 5 and {"queue_row", "separation", "dmag_1", "iou_2"} <= set(per_blend.colnames)


def test_summary_scope_and_empty_queue(window, qtbot):
    view = _shown_compare(window, qtbot)
    view.run_summary()
    assert view.summary is None and "queue" in view.status.text()
    session = window.session_ctl.session
    session.add_random(window.state.stamps, 4)
    session.set_status([1, 3], "accepted")
    rows, specs = view.queue_items("summary: accepted")
    assert rows == [1, 3] and specs == [session.queue[1].spec, session.queue[3].spec]
    view.run_summary("summary: accepted")
    qtbot.waitUntil(lambda: view.summary is not None and not window.tasks.busy, timeout=30000)
    assert view.summary_rows == [1, 3] and all(s["n_blends"] == 2 for s in view.summary.summaries.values())
    view.open_blend(1)
    assert window.state.spec == session.queue[3].spec and window.queue_panel.current_row() == 3


@pytest.mark.skipif(not (SAMPLE / "candels_img.npy").exists(), reason="sample data not generated")
def test_compare_screenshot(tmp_path, monkeypatch, qapp):
    from candels_gui.gui.screenshot import take_screenshot

    monkeypatch.setenv("CANDELS_GUI_RESOURCES", str(tmp_path / "resources"))  # classical deblenders only
    out = take_screenshot(tmp_path / "cmp.png", view="compare", data=SAMPLE, size=(1300, 820))
    image = QImage(str(out))
    assert (image.width(), image.height()) == (1300, 820)


def test_metric_table_never_clips_values_or_headers(qtbot):
    from candels_gui.gui.compare_grid import SUMMARY_COLUMNS, MetricTable

    table = MetricTable(SUMMARY_COLUMNS)
    qtbot.addWidget(table)
    row = {key: 0.123456 for key, _h in SUMMARY_COLUMNS} | {"n_blends": 1000, "flux_mape": 48.25}
    table.set_rows([("unet-deblend+tta", (200, 100, 50), row), ("sep", (0, 200, 0), row)])
    table.show()
    seen = {}
    for width in (1600, 900, 600):
        table.resize(width, table.height())
        qtbot.waitUntil(lambda w=width: table.width() == w)
        header = table.horizontalHeader()
        fm = header.fontMetrics()
        for c in range(table.columnCount()):
            assert header.sectionSize(c) >= table.sizeHintForColumn(c), (width, c)  # values whole
            text = table.horizontalHeaderItem(c).text()
            assert header.sectionSize(c) >= fm.horizontalAdvance(text), (width, text)  # headers whole
        total = sum(header.sectionSize(c) for c in range(table.columnCount()))
        room = table.maximumViewportSize().width()
        if width == 1600:                              # wide: full headers, the width filled
            assert not table.short and room - table.columnCount() <= total <= room
        seen[width] = (table.short, table.horizontalHeaderItem(1).text(), table.legend.text())
        # two rows: the smallest height the table takes still shows both
        assert table.minimumHeight() == table.maximumHeight()
    short, first, legend = seen[600]
    assert short and first == "P" and "<b>P</b> precision" in legend and "<b>MAPE%</b> flux MAPE %" in legend
    assert seen[1600][:2] == (False, "precision")
    assert table.horizontalHeaderItem(5).toolTip() == "flux MAPE %"


def test_the_summary_line_goes_with_the_data(window):
    """Other data opened: the summary was cleared, and its status line ("Summary of N blend(s)") goes too."""
    view = window.compare
    view.status.setText("Summary of 4 blend(s) · photutils, sep")
    window.set_stamps(make_stampset(n=12, size=48, seed=3))
    assert view.summary is None and "Summary of" not in view.status.text()


def test_results_the_cache_dropped_are_run_again(window, qtbot):
    """A summary of a queue longer than the results cache pushed the current blend's results out; the grid then
    said 'No results for this blend' for good, since it asked for each blend's results only once."""
    view = _shown_compare(window, qtbot)
    panel = window.deblend_panel
    spec = window.state.spec
    assert all((n, spec) in panel.cache for n in NAMES)
    panel.cache.drop()                                   # what a long summary does to the current blend's results
    view.refresh()
    qtbot.waitUntil(lambda: view.grid.names == NAMES and not window.tasks.busy, timeout=30000)
    assert all((n, spec) in panel.cache for n in NAMES)
