"""The curation flow a user repeats hundreds of times (pytest-qt, offscreen): keys that work whatever widget
was touched, the user's place in the queue, no duplicate blends, recovery offered at start-up, the fill
overlay, missing values, remembered export choices, zoom limits."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PyQt6.QtCore import QSettings, Qt  # noqa: E402
from PyQt6.QtGui import QKeySequence  # noqa: E402
from PyQt6.QtWidgets import (QAbstractSpinBox, QApplication, QCheckBox, QComboBox, QLineEdit,  # noqa: E402
                             QMessageBox, QPushButton, QSlider, QSpinBox, QTableView, QWidget)

from candels_gui.core.blending.sampling import duplicate_specs, sample_specs  # noqa: E402
from candels_gui.core.curation.session import Session, list_recoverable  # noqa: E402
from candels_gui.gui.actions import ACTIONS  # noqa: E402
from candels_gui.gui.app import MainWindow  # noqa: E402
from candels_gui.gui.keys import typed_by_number_box  # noqa: E402
from candels_gui.gui.places import start_folder  # noqa: E402
from candels_gui.paths import REPO_ROOT  # noqa: E402
from conftest import make_stampset  # noqa: E402

pytestmark = pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")
Btn = QMessageBox.StandardButton

#: Keys left out of the every-widget test: arrows act only in review mode (tested below); the others open
#: file dialogs, modal boxes, close the window or start long work. The vote keys act only in labelling mode
#: (tests/test_gui_morphology.py presses them there).
_SKIP = {"review_next", "review_previous", "open_folder", "open_file", "open_session", "save_session",
         "save_session_as", "export", "quit", "run_deblenders", "train_model", "compare", "about",
         "review_mode", "labelling_mode", "export_labels", "fine_tune_morph", "vote_sph", "vote_sphd", "vote_disk", "vote_irr", "vote_ps", "vote_unc"}


@pytest.fixture
def dialogs(monkeypatch):
    seen = {"question": [], "critical": [], "information": []}
    answers = {"recover": Btn.Yes, "duplicate": Btn.No, "close": Btn.Discard}

    def question(parent, title, text, *args, **kwargs):
        seen["question"].append((title, text))
        return answers["recover"] if "Recover" in title else (
            answers["duplicate"] if "already queued" in title else answers["close"])

    monkeypatch.setattr(QMessageBox, "question", staticmethod(question))
    for kind in ("critical", "information"):
        monkeypatch.setattr(QMessageBox, kind, staticmethod(
            lambda p, title, text, *a, _k=kind, **kw: seen[_k].append((title, text))))
    seen["answers"] = answers
    return seen


@pytest.fixture
def make_window(qtbot, tmp_path, monkeypatch, dialogs):
    auto = tmp_path / "autosave"
    monkeypatch.setenv("CANDELS_GUI_AUTOSAVE_DIR", str(auto))
    windows = []

    def make(source="stamps", settings_name="settings.ini"):
        settings = QSettings(str(tmp_path / settings_name), QSettings.Format.IniFormat)
        if isinstance(source, str) and source == "stamps":
            source = make_stampset(n=16, size=48, seed=1)
        win = MainWindow(source, settings=settings)
        qtbot.addWidget(win)
        win.resize(1280, 800)
        win.show()
        qtbot.waitExposed(win)
        win.activateWindow()
        qtbot.waitUntil(lambda: QApplication.activeWindow() is win and win.isAncestorOf(QApplication.focusWidget()))
        windows.append(win)
        return win

    make.autosave = auto
    yield make
    for win in windows:
        win.tasks.cancel_all()
        win.tasks.wait(5000)
        win.session_ctl.session.mark_saved()


def _combo(text: str) -> tuple[Qt.Key, Qt.KeyboardModifier]:
    c = QKeySequence(text)[0]
    return c.key(), c.keyboardModifiers()


def _press(qtbot, key: Qt.Key, mods: Qt.KeyboardModifier) -> None:
    qtbot.keyClick(QApplication.focusWidget(), key, mods)


def _typed_by(widget: QWidget, key: Qt.Key, mods: Qt.KeyboardModifier, text: str) -> bool:
    """Would ``widget`` keep this key for itself (so Escape must hand the keyboard back first)?"""
    from PyQt6.QtGui import QKeyEvent
    from PyQt6.QtCore import QEvent

    if isinstance(widget, QAbstractSpinBox):
        return typed_by_number_box(QKeyEvent(QEvent.Type.KeyPress, key, mods, text))
    if isinstance(widget, QLineEdit):
        return not (mods & Qt.KeyboardModifier.ControlModifier) or key == Qt.Key.Key_Z
    return False


def test_every_key_of_the_table_acts_after_focusing_every_kind_of_input(make_window, qtbot):
    win = make_window()
    assert win.focusWidget() is win.editor.blend_view  # first focus: the blend view, not a filter box
    cat, disp = win.catalog, win.display_panel
    cat.table.selectRow(3)
    inputs = [cat.mag.low, win.queue_panel.n_random, win.editor.controls.dx, cat.id_search, disp.stretch,
              cat.types["disk"], disp.opacity, cat.table, win.editor.blend_view]
    kinds = {type(w) for w in inputs}
    assert {QSpinBox, QLineEdit, QComboBox, QCheckBox, QSlider, QTableView} <= kinds | {
        t for w in inputs for t in type(w).__mro__}
    fired: dict[str, int] = {}
    for spec in ACTIONS:
        win.actions_by_name[spec.name].triggered.connect(lambda *_a, n=spec.name: fired.__setitem__(
            n, fired.get(n, 0) + 1))
    tried = 0
    for widget in inputs:
        for spec in ACTIONS:
            if spec.name in _SKIP:
                continue
            for shortcut in spec.shortcuts:
                key, mods = _combo(shortcut)
                text = QKeySequence(shortcut).toString() if len(shortcut) == 1 else ""
                for dock in (win.catalog_dock, win.queue_dock, win.display_dock):
                    if dock.isAncestorOf(widget) and not widget.isVisible():
                        dock.show()
                        dock.raise_()
                qtbot.waitUntil(widget.isVisible)
                if widget is disp.opacity:
                    win.display.set_overlay(outline=False)  # (O toggles outlines, which disable the slider)
                widget.setFocus()
                try:
                    qtbot.waitUntil(lambda w=widget: QApplication.focusWidget() in (
                        w, getattr(w, "lineEdit", lambda: None)()), timeout=2000)
                except Exception:
                    raise AssertionError(f"{type(widget).__name__} did not take the focus before {shortcut} "
                                         f"(focus: {QApplication.focusWidget()}, active: "
                                         f"{QApplication.activeWindow()})")
                if _typed_by(widget, key, mods, text):
                    _press(qtbot, Qt.Key.Key_Escape, Qt.KeyboardModifier.NoModifier)
                    assert QApplication.focusWidget() is win.editor.blend_view, (type(widget), shortcut)
                before = fired.get(spec.name, 0)
                _press(qtbot, key, mods)
                assert fired.get(spec.name, 0) == before + 1, (type(widget).__name__, shortcut)
                tried += 1
                for dialog in QApplication.topLevelWidgets():  # "?" opened the cheat sheet: close it
                    if dialog is not win and dialog.isVisible() and dialog.windowTitle() == "Keyboard shortcuts":
                        dialog.close()
                win.activateWindow()
    assert tried > 8 * 30


def test_number_boxes_keep_number_keys_and_escape_enter_come_home(make_window, qtbot):
    win = make_window()
    box = win.editor.controls.dx
    box.setFocus()
    box.lineEdit().selectAll()
    qtbot.keyClicks(box, "7.5")
    assert box.lineEdit().text().startswith("7.5")
    qtbot.keyClick(box, Qt.Key.Key_Escape)  # forget the typing, keys back to the views
    assert QApplication.focusWidget() is win.editor.blend_view and win.state.spec.dx != pytest.approx(7.5)
    box.setFocus()
    box.lineEdit().selectAll()
    qtbot.keyClicks(box, "7.5")
    qtbot.keyClick(box, Qt.Key.Key_Return)  # commit, keys back to the views; the blend is not queued
    assert win.state.spec.dx == pytest.approx(7.5) and QApplication.focusWidget() is win.editor.blend_view
    assert win.session_ctl.session.queue == []
    # the ID search keeps what it types; Escape hands the keys back
    search = win.catalog.id_search
    search.setFocus()
    qtbot.keyClicks(search, "10")
    assert search.text() == "10"
    qtbot.keyClick(search, Qt.Key.Key_Escape)
    assert QApplication.focusWidget() is win.editor.blend_view
    search.setFocus()
    qtbot.keyClick(search, Qt.Key.Key_Return)  # Enter in the search: applied, keys back to the views
    assert QApplication.focusWidget() is win.editor.blend_view and win.session_ctl.session.queue == []
    # a key that cannot act says why
    qtbot.keyClick(win.editor.blend_view, Qt.Key.Key_Down)  # the queue's key, outside review mode
    assert "review mode (Ctrl+R)" in win.statusBar().currentMessage()
    win.state.set_spec(None)
    qtbot.keyClick(win.editor.blend_view, Qt.Key.Key_H)
    assert "no blend yet" in win.statusBar().currentMessage()


def test_queued_blend_is_the_one_decided_and_edits_make_a_new_one(make_window, qtbot):
    win = make_window()
    ctl, view = win.session_ctl, win.editor.blend_view
    first = win.state.spec
    qtbot.keyClick(view, Qt.Key.Key_Return)
    qtbot.keyClick(view, Qt.Key.Key_A)  # Enter, then A: the blend just queued is accepted
    assert [i.status for i in ctl.session.queue] == ["accepted"]
    assert win.queue_panel.selected_rows() == [0]
    qtbot.keyClick(view, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)  # a variant, not an edit of #1
    assert ctl.session.queue[0].spec == first and win.queue_panel.selected_rows() == []
    qtbot.keyClick(view, Qt.Key.Key_A)  # nothing queued is selected: says so, decides nothing
    assert "No queued blend selected" in win.statusBar().currentMessage()
    qtbot.keyClick(view, Qt.Key.Key_Return)
    qtbot.keyClick(view, Qt.Key.Key_R)
    assert [i.status for i in ctl.session.queue] == ["accepted", "rejected"]
    assert ctl.session.queue[1].spec == first.replace(dx=first.dx + 1)


def test_undo_lands_on_what_it_changed_and_review_never_skips_or_repeats(make_window, qtbot):
    win = make_window()
    ctl, view = win.session_ctl, win.editor.blend_view
    ctl.generate_random(8)
    assert len(ctl.session.queue) == 8
    qtbot.keyClick(view, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)  # review mode
    assert win.review.active and win.queue_panel.current_row() == 0
    visited = []
    for key in (Qt.Key.Key_A, Qt.Key.Key_R, Qt.Key.Key_F):
        visited.append(win.queue_panel.current_row())
        qtbot.keyClick(QApplication.focusWidget(), key)
    assert visited == [0, 1, 2] and win.queue_panel.current_row() == 3
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    # undo selected the blend it changed (row 2, flagged -> pending): the next key decides that one
    assert win.queue_panel.current_row() == 2 and ctl.session.queue[2].status == "pending"
    assert win.state.spec == ctl.session.queue[2].spec
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_A)
    assert [i.status for i in ctl.session.queue[:4]] == ["accepted", "rejected", "accepted", "pending"]
    assert win.queue_panel.current_row() == 3
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert win.queue_panel.current_row() == 2 and ctl.session.queue[2].status == "pending"
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier
                   | Qt.KeyboardModifier.ShiftModifier)  # redo lands on it again
    assert win.queue_panel.current_row() == 2 and ctl.session.queue[2].status == "accepted"
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Down)
    for _ in range(6):  # walk to the end: rows 3..7 decided once each, then the last stays
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_A)
    assert [i.status for i in ctl.session.queue[3:]] == ["accepted"] * 5
    assert "last blend of the queue" in win.statusBar().currentMessage()


def test_review_starts_at_the_first_pending_blend_and_goes_back_to_it_at_the_end(make_window, qtbot):
    """Five blends queued with Enter leave the last selected: review started there, and every key after the
    first decided that last row again."""
    win = make_window()
    ctl, view = win.session_ctl, win.editor.blend_view
    ctl.generate_random(5)
    win.queue_panel.select_row(4)                 # as queueing leaves it
    qtbot.keyClick(view, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    assert win.review.active and win.queue_panel.current_row() == 0
    win.queue_panel.select_row(3)
    for key in (Qt.Key.Key_A, Qt.Key.Key_R, Qt.Key.Key_A):   # rows 3, 4, then back to the first pending, 0
        qtbot.keyClick(QApplication.focusWidget(), key)
    assert [i.status for i in ctl.session.queue] == ["accepted", "pending", "pending", "accepted", "rejected"]
    assert win.queue_panel.current_row() == 1
    ctl.session.mark_saved()


def test_random_blends_never_repeat_the_queue_and_a_duplicate_by_hand_asks(make_window, qtbot, dialogs):
    win = make_window()
    ctl, view = win.session_ctl, win.editor.blend_view
    start = win.state.spec  # the start-up pair is draw 0 of the session's stream
    qtbot.keyClick(view, Qt.Key.Key_Return)
    for _ in range(3):  # N, Enter: pairs drawn with N, same seed
        qtbot.keyClick(view, Qt.Key.Key_N)
        qtbot.keyClick(view, Qt.Key.Key_Return)
    win.queue_panel.n_random.setValue(40)
    win.queue_panel.generate_button.click()
    queue = [i.spec for i in ctl.session.queue]
    assert len(queue) == 44 and not duplicate_specs(queue) and queue[0] == start
    # by hand: asked, No keeps the queue and lands on the queued one; Yes adds it again
    win.queue_panel.select_row(5)
    ctl.session.current_item = None
    win.state.set_spec(queue[5].replace(seed=queue[5].seed + 1))
    qtbot.keyClick(view, Qt.Key.Key_Return)
    assert dialogs["question"][-1][0] == "Blend already queued" and "blend 6" in dialogs["question"][-1][1]
    assert len(ctl.session.queue) == 44 and win.queue_panel.selected_rows() == [5]
    dialogs["answers"]["duplicate"] = Btn.Yes
    win.state.set_spec(queue[7])
    ctl.session.current_item = None
    qtbot.keyClick(view, Qt.Key.Key_Return)
    assert len(ctl.session.queue) == 45 and duplicate_specs([i.spec for i in ctl.session.queue]) == {44: 7}
    # the Export dialog says so and leaves the repeat out unless asked to keep it
    ctl.set_status(range(45), "accepted")
    dialog = win.show_export_dialog()
    assert "1 queued blend repeats an earlier one: left out" in dialog.summary.text()
    assert "Will export 44 blends" in dialog.summary.text()
    dialog.duplicates.setCurrentIndex(dialog.duplicates.findData("keep"))
    assert "Will export 45 blends" in dialog.summary.text()
    dialog.close()


def test_export_dialog_explains_label_methods_and_remembers_per_data_set(make_window, tmp_path):
    win = make_window()
    win.session_ctl.generate_random(4)
    win.session_ctl.set_status(range(4), "accepted")
    dialog = win.show_export_dialog()
    assert dialog.focusWidget() is dialog.dest  # nothing remembered: the keys type the destination
    tips = {dialog.method.itemText(i): dialog.method.itemData(i, Qt.ItemDataRole.ToolTipRole)
            for i in range(dialog.method.count())}
    assert "(4 × 48 × 48 × 3) uint8" in tips["ogg_masks"] and "overlap, central, companion" in tips["ogg_masks"]
    assert "(4 × 2 × 48 × 48) uint8" in tips["gg_masks"] and "(4 × 48 × 48 × 4) uint8" in tips["bogg_masks"]
    assert "float32" in tips["single_images"] and "isolated" in tips["single_images"]
    dialog.fmt.setCurrentIndex(dialog.fmt.findData("hdf5"))
    dialog.method.setCurrentText("bogg_masks")
    dialog.statuses["flagged"].setChecked(True)
    dialog.split.setCurrentIndex(1)
    dialog.dest.setText(str(tmp_path / "out.h5"))
    dialog.start()
    win.tasks.wait(20000)
    again = win.show_export_dialog()
    c = again.choices()
    assert again.focusWidget() is again.dest  # these choices cannot export (no test blends): not Export
    assert (c["fmt"], c["method"], c["statuses"], c["test_ratio"], c["dest"]) == (
        "hdf5", "bogg_masks", ("accepted", "flagged"), pytest.approx(0.2), str(tmp_path / "out.h5"))
    again.split.setCurrentIndex(0)
    again.dest.setText(str(tmp_path / "out2.h5"))
    again.start()
    win.tasks.wait(20000)
    third = win.show_export_dialog()
    assert third.export_button.isEnabled() and third.focusWidget() is third.export_button  # Enter exports
    third.close()


def test_work_a_crash_left_is_offered_at_start_up_with_its_data(make_window, qtbot, tmp_path, dialogs):
    from candels_gui.core.data.readers_npy import read_candels_blender

    data = tmp_path / "data"
    _write_candels_folder(data)
    stamps = read_candels_blender(data)
    crashed = make_window(stamps)
    crashed.source_path = data
    crashed.session_ctl.new_session()
    crashed.session_ctl.generate_random(5)
    assert crashed.session_ctl.save_as(tmp_path / "mine.json")
    time.sleep(0.02)
    crashed.session_ctl.set_status([1, 3], "accepted")  # then the app is killed: only the autosave has this
    queue = list(crashed.session_ctl.session.queue)
    # (edits in quick succession reach the autosave within AUTOSAVE_INTERVAL_S, by the controller's timer)
    qtbot.waitUntil(lambda: [a.session_path for a in list_recoverable(make_window.autosave)]
                    == [(tmp_path / "mine.json").resolve()], timeout=3000)
    crashed.session_ctl.session.listeners.clear()  # (the killed app writes nothing more)
    # a plain relaunch (no session named, other data opening) offers the work back at once
    restarted = make_window(None, settings_name="settings2.ini")
    assert restarted.session_ctl.offer_startup_recovery()
    assert dialogs["question"][-1][0] == "Recover unsaved work?" and "5 queued blends" in dialogs["question"][-1][1]
    qtbot.waitUntil(lambda: len(restarted.session_ctl.session.queue) == 5, timeout=20000)
    s = restarted.session_ctl.session
    assert s.queue == queue and s.modified and s.path == (tmp_path / "mine.json").resolve()
    assert restarted.source_path == data and [i.status for i in s.queue].count("accepted") == 2
    # File > Open Recent lists the session and the data; dialogs start there, never in the package
    crashed.settings.sync()
    assert str((tmp_path / "mine.json").resolve()) in crashed.recent_sessions()
    crashed._fill_recent_menu()
    entries = [a.text() for a in crashed.recent_menu.actions()]
    assert "Sessions" in entries and "Data" in entries and str((tmp_path / "mine.json").resolve()) in entries
    assert start_folder(crashed.settings) == tmp_path.resolve()
    assert start_folder(None, REPO_ROOT / "sample_data") == Path.home()


def _write_candels_folder(folder: Path) -> None:
    import csv

    stamps = make_stampset(n=16, size=48, seed=1)
    folder.mkdir(parents=True)
    np.save(folder / "candels_img.npy", stamps.images)
    np.save(folder / "candels_seg.npy", stamps.segmaps)
    with open(folder / "candels_cat.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["ID", "RA", "DEC", "FIELD", "mag", "mag_err", "radius", "z", "galtype", "segval"])
        for row in stamps.catalog:
            w.writerow([row["id"], row["ra"], row["dec"], "GDS", row["mag"], 0.05, row["radius"],
                        -1 if row["id"] % 5 == 0 else row["z"], row["galtype"], row["segval"]])


def test_fill_overlay_missing_values_and_zoom_limits(make_window, qtbot):
    stamps = make_stampset(n=16, size=48, seed=1)
    stamps.fillmask = np.zeros(stamps.images.shape, bool)
    stamps.fillmask[:, :, :8] = True  # every stamp padded on its left
    stamps.catalog["z"][[0, 4]] = -1.0
    stamps.catalog["z"][5] = np.nan
    win = make_window(stamps)
    view = win.editor.blend_view
    assert not view.fill_item.isVisible()
    qtbot.keyClick(view, Qt.Key.Key_G)
    assert win.display.fill_visible and win.actions_by_name["toggle_fill"].isChecked()
    assert win.display_panel.show_fill.isChecked()
    fills = win.editor.fill_masks()
    for v, fill in zip((view, win.editor.g1_view, win.editor.g2_view), fills):
        assert v.fill_item.isVisible()
        alpha = v.fill_item.image[..., 3]
        assert (alpha[fill] > 0).all() and (alpha[~fill] == 0).all()
    assert fills[1][:, :8].all() and not fills[1][:, 8:].any()
    m = win.editor.last_metrics
    assert win.editor.metrics.text("fill") == f"{100 * m.fill_fraction[0]:.0f} / {100 * m.fill_fraction[1]:.0f} %"
    assert "footprint" in win.editor.metrics.values["fill"].toolTip()
    qtbot.keyClick(view, Qt.Key.Key_G)
    assert not view.fill_item.isVisible()
    # missing redshifts: a dash, and the filter spans the values present
    model, col = win.catalog.model, win.catalog.model.columns.index("z")
    shown = {int(stamps.ids[model.stamp_index(r)]): model.data(model.index(r, col)) for r in range(16)}
    assert shown[int(stamps.ids[0])] == shown[int(stamps.ids[4])] == shown[int(stamps.ids[5])] == "—"
    present = np.asarray(stamps.catalog["z"], float)[[i for i in range(16) if i not in (0, 4, 5)]]
    assert win.catalog.z.low.minimum() == pytest.approx(np.floor(present.min() * 100) / 100)
    assert int(win.state.filter_mask().sum()) == 16  # nothing is filtered out by default
    win.catalog.z.low.setValue(1.0)
    win.catalog.apply_filter()
    mask = win.state.filter_mask()
    assert mask[0] and mask[4] and mask[5]  # unknown z is not judged by the z bounds
    # zoom: never smaller than the whole stamp, never beyond 40 screen pixels per image pixel
    for _ in range(40):
        win.zoom_out()
    rect = view.vb.viewRect()
    assert rect.width() <= view.zoom_limits()[1] + 1e-6 and rect.width() >= 48 and rect.height() >= 48
    for _ in range(80):
        win.zoom_in()
    assert view.vb.viewRect().width() >= view.vb.boundingRect().width() / 40 - 1e-6


def test_deblend_tab_rows_fill_the_tab(make_window, qtbot):
    from candels_gui.gui.deblend_view import MAX_VIEW, MIN_VIEW, ROW_EXTRA

    win = make_window()
    panel = win.deblend_panel
    win.central_tabs.setCurrentWidget(panel)
    panel.set_selected(["photutils", "sep"])
    qtbot.waitUntil(lambda: all(panel.rows[n].isVisible() for n in ("photutils", "sep")))
    area = panel.scroll.viewport()
    size = panel.scroll.fit()
    assert MIN_VIEW <= size <= MAX_VIEW and size >= 130  # at 1280x800 already well above the old 75 px
    assert 2 * (size + ROW_EXTRA) <= area.height() + 4  # both rows in sight, no scrolling
    assert 4 * size <= area.width()
    # the run buttons are in sight at 1280x800
    for button in (panel.run_button, panel.queue_button):
        assert button.isVisible() and button.mapTo(win, button.rect().bottomRight()).y() < win.height()
    win.resize(1600, 1000)
    qtbot.waitUntil(lambda: panel.scroll.fit() > size)  # a larger window: larger outputs


def test_every_tab_fits_1280x800_without_scrolling(make_window, qtbot):
    """A laptop screen: whichever tab is shown, the window keeps 1280x800, every toolbar button is on the
    bar (none pushed into its overflow menu) and the right column's panels need no scrolling."""
    from PyQt6.QtWidgets import QScrollArea

    win = make_window()
    for central in range(win.central_tabs.count()):
        win.central_tabs.setCurrentIndex(central)
        for right in range(win.right_tabs.count()):
            win.right_tabs.setCurrentIndex(right)
            for dock in (win.catalog_dock, win.queue_dock):
                dock.raise_()
                QApplication.processEvents()
                where = f"{win.central_tabs.tabText(central)} + {win.right_tabs.tabText(right)}"
                hint = win.minimumSizeHint()
                assert hint.width() <= 1280 and hint.height() <= 800, (where, hint)
                assert (win.width(), win.height()) == (1280, 800), where
                page = win.right_tabs.currentWidget()
                if isinstance(page, QScrollArea):
                    assert page.verticalScrollBar().maximum() == 0, where
    for action in win.toolbar.actions():
        if not action.isSeparator():
            assert win.toolbar.widgetForAction(action).isVisible(), action.text()
            assert action.toolTip().startswith(action.text().replace("&", "").rstrip("…"))


def test_a_session_reopened_on_its_moved_data_records_the_new_place(make_window, qtbot, tmp_path, dialogs):
    """Its data folder renamed: the user opens the data where it now is, then the session; saving it again
    wrote the old place, so the next open failed the same way."""
    import json

    from candels_gui.core.data.readers_npy import read_candels_blender

    data = tmp_path / "data"
    _write_candels_folder(data)
    win = make_window(read_candels_blender(data))
    win.source_path = data
    win.session_ctl.new_session()
    win.session_ctl.generate_random(3)
    assert win.session_ctl.save_as(tmp_path / "mine.json")
    queue = list(win.session_ctl.session.queue)
    moved = data.rename(tmp_path / "moved")
    other = make_window(read_candels_blender(moved))
    other.source_path = moved
    other.session_ctl.new_session()
    other.session_ctl.open_session(tmp_path / "mine.json")
    qtbot.waitUntil(lambda: other.session_ctl.session.queue == queue, timeout=5000)
    session = other.session_ctl.session
    assert session.data_path == moved.resolve() and session.modified     # closing would ask to save it
    assert "moved" in other.statusBar().currentMessage()
    assert other.session_ctl.save()
    assert json.loads((tmp_path / "mine.json").read_text())["data"]["path"] == "moved"
