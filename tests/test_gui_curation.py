"""Curation in the app (pytest-qt, offscreen): queue, review, undo / redo, sessions, autosave, export."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PyQt6.QtCore import Qt  # noqa: E402
from PyQt6.QtWidgets import QMessageBox  # noqa: E402

from candels_gui.core.blending.engine import BlendEngine  # noqa: E402
from candels_gui.core.store.export import export, read_export, export_splits  # noqa: E402
from candels_gui.core.jobs import run_job  # noqa: E402
from candels_gui.core.blending.sampling import duplicate_specs, sample_specs  # noqa: E402
from candels_gui.core.curation.session import Session, find_autosave  # noqa: E402
from candels_gui.core.curation.session_export import split_specs_by_galaxy  # noqa: E402
from candels_gui.gui.export_dialog import NO_LABELS  # noqa: E402
from conftest import make_stampset, window_factory  # noqa: E402

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"
pytestmark = pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")
Btn = QMessageBox.StandardButton


@pytest.fixture
def autosave_dir(tmp_path, monkeypatch):
    folder = tmp_path / "autosave"
    monkeypatch.setenv("CANDELS_GUI_AUTOSAVE_DIR", str(folder))
    return folder


@pytest.fixture
def dialogs(monkeypatch):
    """Replace the modal boxes (the window's logic still runs): record them, answer questions."""
    seen = {"critical": [], "information": [], "question": []}
    answers = {"close": Btn.Discard, "recover": Btn.Yes}

    def question(parent, title, text, *args, **kwargs):
        seen["question"].append((title, text))
        if "outside" in title:  # the session's data lies outside its folder: the user confirms the path
            return Btn.Yes
        return answers["recover"] if "Recover" in title else answers["close"]

    monkeypatch.setattr(QMessageBox, "question", staticmethod(question))
    monkeypatch.setattr(QMessageBox, "critical",
                        staticmethod(lambda p, title, text, *a, **k: seen["critical"].append((title, text))))
    monkeypatch.setattr(QMessageBox, "information",
                        staticmethod(lambda p, title, text, *a, **k: seen["information"].append((title, text))))
    seen["answers"] = answers
    return seen


@pytest.fixture
def make_window(qtbot, tmp_path, autosave_dir, dialogs):
    with window_factory(qtbot, tmp_path, wait_ms=5000) as make:
        def make_on(source="stamps", **kwargs):
            return make(make_stampset(n=16, size=48, seed=1) if source == "stamps" else source, **kwargs)

        yield make_on


@pytest.fixture
def window(make_window):
    return make_window()


def _key(qtbot, win, key, modifier=Qt.KeyboardModifier.NoModifier):
    win.activateWindow()
    win.editor.blend_view.setFocus()
    qtbot.keyClick(win.editor.blend_view, key, modifier)


def _statuses(win):
    return [item.status for item in win.session_ctl.session.queue]


def test_enter_adds_the_current_blend_and_keys_decide(window, qtbot):
    ctl, state = window.session_ctl, window.state
    first = state.spec
    _key(qtbot, window, Qt.Key.Key_Return)
    window.actions_by_name["nudge_right"].trigger()
    second = state.spec
    _key(qtbot, window, Qt.Key.Key_Enter)
    window.actions_by_name["random_pair"].trigger()
    _key(qtbot, window, Qt.Key.Key_Return)
    queue = ctl.session.queue
    assert [i.spec for i in queue] == [first, second, state.spec] and _statuses(window) == ["pending"] * 3
    panel = window.queue_panel
    assert panel.model.rowCount() == 3 and panel.model.data(panel.model.index(1, 2)) == str(second.id2)
    assert "3</b> queued" in panel.counts.text()
    # selecting a row shows its blend; A / R / F decide the selection
    panel.select_row(0)
    assert state.spec == first and window.editor.last_blend.spec == first
    _key(qtbot, window, Qt.Key.Key_A)
    panel.select_row(1)
    _key(qtbot, window, Qt.Key.Key_R)
    panel.select_row(2)
    _key(qtbot, window, Qt.Key.Key_F)
    assert _statuses(window) == ["accepted", "rejected", "flagged"]
    assert window.actions_by_name["undo"].text() == "&Undo Flag blend 3"
    assert panel.model.data(panel.model.index(1, 5), Qt.ItemDataRole.ForegroundRole) is not None
    # undo / redo by their keys
    _key(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    _key(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert _statuses(window) == ["accepted", "pending", "pending"]
    assert window.actions_by_name["redo"].text() == "&Redo Reject blend 2"
    _key(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert _statuses(window) == ["accepted", "rejected", "pending"]
    # Enter in a spin box commits the value instead of queueing
    box = window.editor.controls.dx
    box.setFocus()
    box.lineEdit().selectAll()
    qtbot.keyClicks(box, "3.5")
    qtbot.keyClick(box, Qt.Key.Key_Return)
    assert len(ctl.session.queue) == 3 and state.spec.dx == pytest.approx(3.5)


def test_editor_changes_are_undoable_one_command_per_drag(window, qtbot):
    ctl, state, editor = window.session_ctl, window.state, window.editor
    start = state.spec
    n = len(ctl.session.labels())
    cx, cy = editor.centre()
    for k in range(6):  # one drag: live moves, then the release
        editor.handle.move_to(cx + 5.0 + 0.5 * k, cy + 2.0, final=False)
    editor.handle.move_to(cx + 8.25, cy + 2.0, final=True)
    editor.controls.rotation.setValue(60.0)
    editor.controls.flip.setChecked(True)
    assert ctl.session.labels()[n:] == ["Move companion", "Rotate companion", "Flip companion"]
    moved = start.replace(dx=8.25, dy=2.0)
    assert state.spec == moved.replace(rotation=60.0, flip=True)
    assert window.actions_by_name["undo"].text() == "&Undo Flip companion"
    window.actions_by_name["undo"].trigger()
    window.actions_by_name["undo"].trigger()
    assert state.spec == moved and editor.last_blend.spec == moved
    assert editor.controls.rotation.value() == pytest.approx(start.rotation)
    window.actions_by_name["undo"].trigger()
    assert state.spec == start and not ctl.session.can_undo
    window.actions_by_name["undo"].trigger()  # Ctrl+Z with nothing left says so
    assert window.statusBar().currentMessage() == "Nothing to undo" and state.spec == start
    np.testing.assert_array_equal(editor.blend_view.raw(), state.engine.render(start).image)
    window.actions_by_name["redo"].trigger()
    assert state.spec == moved and window.actions_by_name["redo"].text() == "&Redo Rotate companion"
    window.actions_by_name["swap"].trigger()
    assert ctl.session.undo_label == "Swap galaxies"


def test_editing_a_queued_blend_and_review_mode(window, qtbot):
    ctl, state, panel = window.session_ctl, window.state, window.queue_panel
    ctl.generate_random(12)
    assert len(ctl.session.queue) == 12 and ctl.session.undo_label == "Add 12 random blends"
    panel.select_row(3)
    original = ctl.session.queue[3].spec
    window.actions_by_name["nudge_up"].trigger()
    assert ctl.session.queue[3].spec == original.replace(dy=round(original.dy + 1.0, 2))
    assert ctl.session.undo_label == "Move companion (blend 4)"
    window.actions_by_name["undo"].trigger()
    assert ctl.session.queue[3].spec == original and state.spec == original

    window.actions_by_name["review_mode"].trigger()
    assert window.review.active and window.catalog_dock.isHidden() and not window.queue_dock.isHidden()
    panel.select_row(0)
    for key in (Qt.Key.Key_A, Qt.Key.Key_R, Qt.Key.Key_Down, Qt.Key.Key_F, Qt.Key.Key_Up, Qt.Key.Key_Up):
        qtbot.keyClick(panel.table, key)
    assert _statuses(window)[:4] == ["accepted", "rejected", "pending", "flagged"]
    assert panel.current_row() == 2 and state.spec == ctl.session.queue[2].spec
    assert window.editor.last_blend.spec == ctl.session.queue[2].spec
    window.actions_by_name["review_mode"].trigger()
    assert not window.review.active and not window.catalog_dock.isHidden()
    assert not window.actions_by_name["review_next"].isEnabled()


def test_generate_random_blends_in_a_worker(window, qtbot):
    ctl, state = window.session_ctl, window.state
    window.rules_panel.uniform.setChecked(True)
    window.queue_panel.n_random.setValue(400)
    window.queue_panel.generate_button.click()
    qtbot.waitUntil(lambda: len(ctl.session.queue) == 400, timeout=20000)
    # 16 galaxies, whole-pixel offsets: repeats are drawn, skipped, and the stream goes on
    expected = sample_specs(state.stamps, 400, state.rules, seed=state.seed, pool=state.pool(), unique=True)
    assert [i.spec for i in ctl.session.queue] == expected
    assert not duplicate_specs(expected) and ctl.session.random_index > 400
    assert ctl.session.undo_label == "Add 400 random blends"
    window.actions_by_name["undo"].trigger()
    assert ctl.session.queue == [] and ctl.session.random_index == 0


def _curate(win):
    ctl = win.session_ctl
    ctl.generate_random(10)
    ctl.set_status([0, 2, 3, 5, 7], "accepted")
    ctl.set_status([1], "rejected")
    ctl.set_status([4, 9], "flagged")
    ctl.set_note(4, "check the neighbour")
    win.queue_panel.select_row(6)
    win.actions_by_name["rotate_ccw"].trigger()
    return ctl.session


def test_session_save_and_reopen_gives_the_same_state(make_window, tmp_path, dialogs):
    first = make_window()
    session = _curate(first)
    first.display.set(stretch="log", cmap="inferno")
    assert first.session_ctl.save_as(tmp_path / "work" / "curation.json")
    assert not session.modified and "unsaved" not in first.queue_panel.counts.text()
    saved = json.loads((tmp_path / "work" / "curation.json").read_text())
    assert saved["display"]["settings"]["stretch"] == "log" and len(saved["queue"]) == 10

    second = make_window(first.state.stamps)
    assert second.session_ctl.open_session(tmp_path / "work" / "curation.json")
    again = second.session_ctl.session
    assert again.queue == session.queue and again.current == session.current
    assert second.state.spec == session.current and second.editor.last_blend.spec == session.current
    assert again.current_item == 6 and second.display.settings.cmap == "inferno"
    assert second.queue_panel.model.rowCount() == 10 and not again.modified
    # Ctrl+S saves to the same file without asking
    second.session_ctl.set_status([8], "accepted")
    second.actions_by_name["save_session"].trigger()
    assert Session.load(tmp_path / "work" / "curation.json").queue[8].status == "accepted"
    assert not dialogs["critical"]

    # other data: the error names both hashes, nothing is replaced
    third = make_window(make_stampset(n=16, size=48, seed=9))
    assert not third.session_ctl.open_session(tmp_path / "work" / "curation.json")
    title, text = dialogs["critical"][-1]
    assert first.state.stamps.content_hash() in text and third.state.stamps.content_hash() in text
    assert third.session_ctl.session.queue == []


@pytest.mark.skipif(not (SAMPLE / "candels_img.npy").exists(), reason="sample data not generated")
def test_session_opens_its_data_by_relative_path(make_window, tmp_path, qtbot, dialogs):
    first = make_window(SAMPLE)
    qtbot.waitUntil(lambda: first.state.stamps is not None and not first.tasks.busy, timeout=15000)
    session = _curate(first)
    path = tmp_path / "curation.json"
    assert first.session_ctl.save_as(path)
    assert json.loads(path.read_text())["data"]["path"] == Path(
        __import__("os").path.relpath(SAMPLE.resolve(), tmp_path.resolve())).as_posix()
    second = make_window(None)
    assert not second.session_ctl.open_session(path)  # its data is read in a worker first
    qtbot.waitUntil(lambda: len(second.session_ctl.session.queue) == 10, timeout=15000)
    assert second.session_ctl.session.queue == session.queue and second.state.spec == session.current
    assert second.source_path.resolve() == SAMPLE.resolve() and not dialogs["critical"]


@pytest.mark.skipif(not (SAMPLE / "candels_img.npy").exists(), reason="sample data not generated")
def test_a_session_whose_data_load_is_cancelled_is_not_opened(make_window, tmp_path, qtbot, dialogs, monkeypatch):
    """Cancel the load of an opened session's data: that session is dropped. (It stayed pending: queue rows no
    longer loaded into the editor, edits were not recorded, and the next data opened had the stale session
    applied to it, refused as another data set's.)"""
    first = make_window(SAMPLE)
    qtbot.waitUntil(lambda: first.state.stamps is not None and not first.tasks.busy, timeout=15000)
    _curate(first)
    path = tmp_path / "curation.json"
    assert first.session_ctl.save_as(path)
    other = make_window()                                # open on other data
    import candels_gui.core.store.open_data as open_data
    from candels_gui.core.jobs import Progress, check_cancel

    def slow_read(path, *, limit=None, cancel=None):     # a load that lasts until it is cancelled
        while True:
            check_cancel(cancel)
            time.sleep(0.01)
            yield Progress(0, 1, "reading")
    monkeypatch.setattr(open_data, "iter_open_data", slow_read)
    other.session_ctl.open_session(path)                 # its data starts loading in a worker
    qtbot.waitUntil(lambda: other.tasks.busy, timeout=5000)
    other.tasks.cancel_all()                             # the status bar's Cancel
    qtbot.waitUntil(lambda: not other.tasks.busy, timeout=15000)
    qtbot.waitUntil(lambda: other.session_ctl._pending is None, timeout=2000)
    assert other.state.stamps is not None and other.source_path is None   # still the data it had
    queued = len(other.session_ctl.session.queue)
    other.state.random_pair()
    other.session_ctl.session.add_specs([other.state.spec])
    assert len(other.session_ctl.session.queue) == queued + 1
    other.session_ctl.load_item(0)
    assert other.state.spec == other.session_ctl.session.queue[0].spec   # rows load into the editor again
    assert not dialogs["critical"]


def test_autosave_recovery_in_the_app(make_window, autosave_dir, qtbot, dialogs):
    crashed = make_window()
    session = _curate(crashed)
    stamps = crashed.state.stamps
    auto = find_autosave(data_hash=stamps.content_hash(), directory=autosave_dir)
    assert auto is not None   # quick edits are written at most AUTOSAVE_INTERVAL_S later, by the timer
    qtbot.waitUntil(lambda: Session.recover(auto).queue == session.queue, timeout=3000)
    # as if the app had been killed: a new window on the same data finds the autosave
    restarted = make_window(None)
    restarted.session_ctl.recover_on_load = True
    restarted.set_stamps(stamps)
    qtbot.waitUntil(lambda: len(restarted.session_ctl.session.queue) == 10, timeout=5000)
    assert [t for t, _ in dialogs["question"]] == ["Recover unsaved work?"]
    recovered = restarted.session_ctl.session
    assert recovered.queue == session.queue and recovered.current == session.current
    assert restarted.state.spec == session.current and recovered.modified
    # declining removes the autosave
    dialogs["answers"]["recover"] = Btn.No
    other = make_window(None)
    other.session_ctl.recover_on_load = True
    other.set_stamps(stamps)
    qtbot.waitUntil(lambda: len(dialogs["question"]) == 2, timeout=5000)
    assert other.session_ctl.session.queue == [] and find_autosave(
        data_hash=stamps.content_hash(), directory=autosave_dir) is None


@pytest.mark.parametrize("fmt, method, statuses, split", [
    ("npy", "bogg_masks", ("accepted",), True),
    ("hdf5", "ogg_masks", ("accepted", "flagged"), False),
    ("fits", None, ("accepted",), False),
])
def test_export_dialog_writes_what_the_core_writes(window, tmp_path, qtbot, dialogs, fmt, method, statuses,
                                                   split):
    session = _curate(window)
    stamps = window.state.stamps
    if split:  # enough blends for both sides of a split by galaxy
        window.session_ctl.generate_random(60)
        window.session_ctl.set_status(range(10, 70), "accepted")
    dialog = window.show_export_dialog()
    dialog.fmt.setCurrentIndex(dialog.fmt.findData(fmt))
    dialog.method.setCurrentText(method or NO_LABELS)
    assert dialog.choices()["method"] == method
    for status, box in dialog.statuses.items():
        box.setChecked(status in statuses)
    if split:
        dialog.split.setCurrentIndex(dialog.split.findData("galaxy"))
        dialog.test_ratio.setValue(0.4)
    dest = tmp_path / ("gui_out" if fmt == "npy" else f"gui.{'h5' if fmt == 'hdf5' else 'fits'}")
    dialog.dest.setText(str(dest))
    assert "Will export" in dialog.summary.text()
    dialog.export_button.click()
    qtbot.waitUntil(lambda: window.export_result is not None, timeout=20000)
    qtbot.waitUntil(lambda: not window.tasks.busy, timeout=5000)
    assert dialogs["information"] and str(dest) in dialogs["information"][-1][1]
    assert not dialogs["critical"]
    train = window.deblend_panel.open_train_dialog()  # trains on the curated export, when it is HDF5
    assert train.data.text() == (str(dest) if fmt == "hdf5" else "")
    train.close()

    specs = session.specs(statuses)
    core_dest = tmp_path / ("core_out" if fmt == "npy" else f"core.{'h5' if fmt == 'hdf5' else 'fits'}")
    if split:
        train, test, _ = split_specs_by_galaxy(specs, stamps, 0.4, session.seed)
        job = export(core_dest, BlendEngine(stamps), fmt=fmt, method=method, split=(train, test),
                     seed=session.seed)
    else:
        job = export(core_dest, BlendEngine(stamps), specs, fmt=fmt, method=method, seed=session.seed)
    run_job(job)
    assert export_splits(dest) == export_splits(core_dest)
    for name in export_splits(dest):
        gui, core = read_export(dest, split=name), read_export(core_dest, split=name)
        assert gui.specs == core.specs and len(gui) > 0
        for field in ("images", "fluxes", "isolated", "masks", "labels"):
            a, b = getattr(gui, field), getattr(core, field)
            assert (a is None) == (b is None), field
            if a is not None:
                assert a.dtype == b.dtype and a.shape == b.shape
                assert np.asarray(a).tobytes() == np.asarray(b).tobytes(), field
    if not split:
        assert read_export(dest).specs == specs


def test_export_dialog_says_when_there_is_nothing_to_export(window):
    dialog = window.show_export_dialog()
    assert "nothing to export" in dialog.summary.text() and not dialog.export_button.isEnabled()
    dialog.close()


def test_closing_with_unsaved_work_asks(make_window, tmp_path, dialogs):
    clean = make_window()
    clean.actions_by_name["nudge_left"].trigger()  # an editor change alone is not unsaved work
    assert clean.close() and dialogs["question"] == []

    win = make_window()
    win.session_ctl.generate_random(3)
    auto = win.session_ctl.session.autosave_path
    assert auto.is_file()
    dialogs["answers"]["close"] = Btn.Cancel
    assert not win.close() and win.isVisible()
    assert dialogs["question"][-1][0] == "Close candels-gui" and "3 queued blends" in dialogs["question"][-1][1]
    win.session_ctl.session.path = tmp_path / "closing.json"  # Save writes the file, then closes
    dialogs["answers"]["close"] = Btn.Save
    assert win.close()
    assert len(Session.load(tmp_path / "closing.json").queue) == 3 and not auto.exists()

    other = make_window()
    other.session_ctl.generate_random(2)
    auto = other.session_ctl.session.autosave_path
    dialogs["answers"]["close"] = Btn.Discard
    assert other.close() and not auto.exists()


@pytest.mark.skipif(not (SAMPLE / "candels_img.npy").exists(), reason="sample data not generated")
def test_discarding_for_data_that_then_fails_to_open_keeps_the_autosave(make_window, tmp_path, dialogs, qtbot):
    """Discard, then the folder asked for is not data: the queue stays on screen, and its crash copy must too
    (it was deleted at the Discard); once other data does open, the discarded session's autosave goes."""
    win = make_window()
    win.session_ctl.generate_random(5)
    auto = win.session_ctl.session.autosave_path
    assert auto.is_file()
    dialogs["answers"]["close"] = Btn.Discard
    (tmp_path / "empty").mkdir()
    win.open_path(tmp_path / "empty")
    qtbot.waitUntil(lambda: bool(dialogs["critical"]), timeout=10000)
    assert len(win.session_ctl.session.queue) == 5 and auto.is_file()
    win.open_path(SAMPLE)
    qtbot.waitUntil(lambda: win.session_ctl.session.queue == [], timeout=10000)
    assert not auto.exists()


@pytest.mark.skipif(not (SAMPLE / "candels_img.npy").exists(), reason="sample data not generated")
def test_review_screenshot(tmp_path):
    from PyQt6.QtGui import QImage

    from candels_gui.gui.screenshot import take_screenshot

    out = take_screenshot(tmp_path / "review.png", view="review", data=SAMPLE, size=(1600, 1000))
    image = QImage(str(out))
    assert (image.width(), image.height()) == (1600, 1000)


def test_note_edited_in_the_table_with_enter(window, qtbot):
    from PyQt6.QtWidgets import QApplication, QLineEdit

    ctl, panel = window.session_ctl, window.queue_panel
    ctl.generate_random(2)
    window.activateWindow()
    panel.table.setFocus()
    panel.table.edit(panel.model.index(1, panel.model.NOTE))
    editor = QApplication.focusWidget()
    assert isinstance(editor, QLineEdit)
    qtbot.keyClicks(editor, "faint companion")
    qtbot.keyClick(editor, Qt.Key.Key_Return)  # commits the note; does not queue the blend
    assert [i.note for i in ctl.session.queue] == ["", "faint companion"]
    assert ctl.session.undo_label == "Edit note of blend 2"


def test_opening_other_data_with_unsaved_work_asks(make_window, dialogs, tmp_path):
    win = make_window()
    win.session_ctl.generate_random(2)
    before = win.state.stamps
    dialogs["answers"]["close"] = Btn.Cancel
    win.open_path(tmp_path / "elsewhere")
    assert dialogs["question"][-1][0] == "Open elsewhere"
    assert win.state.stamps is before and len(win.session_ctl.session.queue) == 2
    assert dialogs["critical"] == []  # cancelled: nothing was even tried
    dialogs["answers"]["close"] = Btn.Discard  # (the window closes at teardown, not left open over the next tests)


def test_export_dialog_opened_before_the_data_is_ready_once_it_arrives(make_window, qtbot):
    """Opened while the data loads (no stamps yet), the dialog said "Open data first." for good."""
    win = make_window(None)
    dialog = win.show_export_dialog()
    assert dialog.summary.text() == "Open data first." and not dialog.export_button.isEnabled()
    win.set_stamps(make_stampset(n=16, size=48, seed=1))
    assert dialog.summary.text() != "Open data first."
    dialog.close()


def test_export_dialog_puts_a_bare_file_name_in_the_dialogs_folder(window, tmp_path, qtbot, dialogs, monkeypatch):
    """A name without a folder goes where the file dialogs start (the last folder used), said in full: it
    went to the app's working folder, which a user who started it from a launcher cannot find."""
    from candels_gui.gui.places import remember_folder

    _curate(window)
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "exports"
    folder.mkdir()
    remember_folder(window.settings, folder)
    dialog = window.show_export_dialog()
    dialog.fmt.setCurrentIndex(dialog.fmt.findData("hdf5"))
    dialog.dest.setText("mine.h5")
    dialog.export_button.click()
    qtbot.waitUntil(lambda: window.export_result is not None and not window.tasks.busy, timeout=20000)
    assert (folder / "mine.h5").is_file() and not (tmp_path / "mine.h5").exists()
    assert str(folder / "mine.h5") in dialogs["information"][-1][1]
