"""Morphology in the app (pytest-qt, offscreen): labelling keys, undo, the label file, catalog columns, scatter."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PyQt6.QtCore import QSettings, Qt  # noqa: E402
from PyQt6.QtWidgets import QMessageBox  # noqa: E402

from candels_gui.core.data.morph_labels import read_labels_csv  # noqa: E402
from candels_gui.core.curation.session import Session  # noqa: E402
from candels_gui.gui.app import MainWindow  # noqa: E402
from conftest import make_stampset  # noqa: E402

pytestmark = pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("CANDELS_GUI_AUTOSAVE_DIR", str(tmp_path / "autosave"))
    errors = []
    monkeypatch.setattr(QMessageBox, "critical", staticmethod(lambda p, t, m, *a, **k: errors.append((t, m))))
    monkeypatch.setattr(QMessageBox, "question", staticmethod(lambda *a, **k: QMessageBox.StandardButton.Discard))
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(make_stampset(n=16, size=48, seed=1), settings=settings)
    qtbot.addWidget(win)
    win.resize(1300, 850)
    win.show()
    qtbot.waitExposed(win)
    win.errors = errors
    yield win
    win.tasks.cancel_all()
    win.tasks.wait(5000)


def _key(qtbot, win, key, modifier=Qt.KeyboardModifier.NoModifier):
    win.activateWindow()
    win.labelling.view.setFocus()
    qtbot.keyClick(win.labelling.view, key, modifier)


def test_keys_record_votes_move_on_and_undo(window, qtbot, tmp_path):
    view, stamps = window.labelling, window.state.stamps
    window.actions_by_name["labelling_mode"].trigger()
    assert view.active and window.central_tabs.currentWidget() is view
    assert all(window.actions_by_name[f"vote_{c}"].isEnabled() for c in ("sph", "disk", "unc"))
    # without a name, a key asks for one: cancelled, nothing is recorded; given, that key's vote is recorded
    from PyQt6.QtWidgets import QInputDialog

    answers = [("", False), ("ana", True)]
    asked = []
    monkey = pytest.MonkeyPatch()
    monkey.setattr(QInputDialog, "getText", staticmethod(lambda *a, **k: (asked.append(a[1]), answers.pop(0))[1]))
    view.labeller.setText("")
    window.catalog.table.selectRow(0)
    _key(qtbot, window, Qt.Key.Key_D)
    assert len(window.session_ctl.session.morph_votes) == 0 and view.name() == ""
    _key(qtbot, window, Qt.Key.Key_D)
    monkey.undo()
    assert asked == ["Who is labelling?"] * 2 and view.name() == "ana"
    first = int(stamps.ids[window.catalog.model.stamp_index(0)])
    votes = window.session_ctl.session.morph_votes
    assert len(votes) == 1 and votes.get(first, "ana") == "disk"
    window.session_ctl.undo()                        # back to no votes for the rest of the test
    assert len(window.session_ctl.session.morph_votes) == 0
    window.catalog.table.selectRow(0)
    ids = [int(stamps.ids[window.catalog.model.stamp_index(k)]) for k in range(4)]
    for key in (Qt.Key.Key_D, Qt.Key.Key_I, Qt.Key.Key_S, Qt.Key.Key_B):
        _key(qtbot, window, key)
    votes = window.session_ctl.session.morph_votes
    assert [votes.get(g, "ana") for g in ids] == ["disk", "irr", "sph", "sphd"]
    assert view.current_stamp() == window.catalog.model.stamp_index(4)      # each vote moved on
    _key(qtbot, window, Qt.Key.Key_Left)                                     # arrows move
    assert view.current_stamp() == window.catalog.model.stamp_index(3)
    _key(qtbot, window, Qt.Key.Key_Right)
    _key(qtbot, window, Qt.Key.Key_Period)                                  # "." point source
    _key(qtbot, window, Qt.Key.Key_U)
    assert votes.get(int(stamps.ids[window.catalog.model.stamp_index(4)]), "ana") == "ps"
    # undo (Ctrl+Z) takes the last vote back, redo puts it again
    _key(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert votes.get(int(stamps.ids[window.catalog.model.stamp_index(5)]), "ana") is None
    assert view.current_stamp() == window.catalog.model.stamp_index(5)      # back on the galaxy undone
    assert "Label galaxy" in window.actions_by_name["redo"].text()
    _key(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert votes.get(int(stamps.ids[window.catalog.model.stamp_index(5)]), "ana") == "unc"
    # a second labeller on the first galaxy: fractions of the two votes
    view.labeller.setText("ben")
    window.catalog.table.selectRow(0)
    _key(qtbot, window, Qt.Key.Key_I)
    assert "disk 1" in view.votes_label.text() or "irregular 1" in view.votes_label.text()
    out = view.export(tmp_path / "labels.csv")
    labels = read_labels_csv(out, known_ids=stamps.ids)
    ids_s, fr, n = votes.fractions()
    assert labels.ids.tolist() == ids_s.tolist() and np.allclose(labels.fractions, fr, atol=1e-4)
    first = labels.ids.tolist().index(ids[0])
    assert labels.fractions[first].round(2).tolist() == [0, 0, 0.5, 0.5, 0, 0]
    text = Path(out).read_text()
    assert "n_votes,labellers" in text.splitlines()[0] and "ana;ben" in text
    # the votes are saved with the session and the vote keys do nothing outside labelling mode
    path = window.session_ctl.session.save(tmp_path / "s.json")
    assert Session.load(path).morph_votes == votes
    window.actions_by_name["labelling_mode"].trigger()
    assert not view.active and not window.actions_by_name["vote_disk"].isEnabled()
    assert window.errors == []


def test_labelling_and_review_mode_switch_each_other_off(window):
    window.actions_by_name["labelling_mode"].trigger()
    window.actions_by_name["review_mode"].trigger()
    assert window.review.active and not window.labelling.active
    window.actions_by_name["labelling_mode"].trigger()
    assert window.labelling.active and not window.review.active
    window.central_tabs.setCurrentIndex(0)                # leaving the tab leaves labelling mode
    assert not window.labelling.active


def test_the_labelling_tab_is_labelling_mode(window, qtbot, monkeypatch):
    """Clicking the Labelling tab starts labelling (the galaxy shown, the vote keys work); leaving the mode
    goes back to the blend. The tab used to open blank with its keys off until Ctrl+L."""
    view, tabs = window.labelling, window.central_tabs
    view.labeller.setText("ana")
    qtbot.mouseClick(tabs.tabBar(), Qt.MouseButton.LeftButton, pos=tabs.tabBar().tabRect(tabs.indexOf(view)).center())
    assert tabs.currentWidget() is view and view.active
    assert window.actions_by_name["labelling_mode"].isChecked() and view.current_stamp() == 0
    assert view.info.text().startswith(f"<b>ID {int(window.state.stamps.ids[0])}</b>")
    _key(qtbot, window, Qt.Key.Key_S)
    assert window.session_ctl.session.morph_votes.get(int(window.state.stamps.ids[0]), "ana") == "sph"
    window.actions_by_name["labelling_mode"].trigger()     # Ctrl+L again: the mode ends, the blend is shown
    assert not view.active and tabs.currentIndex() == 0


def test_predictions_and_diagnostics_become_catalog_columns_and_points(window, qtbot):
    ctl = window.morphology
    stamps = window.state.stamps
    n = len(stamps)
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(6), n)
    ctl.probabilities = probs
    ctl.predicted = np.asarray(["sph", "sphd", "disk", "irr", "ps", "unc"])[probs.argmax(1)]
    ctl._publish_predictions()
    model = window.catalog.model
    assert "galtype_pred" in model.columns and "p_pred" in model.columns
    col = model.columns.index("galtype_pred")
    line = model.line_of(3)
    assert model.data(model.index(line, col)) == ctl.predicted[3]
    model.sort(model.columns.index("p_pred"), Qt.SortOrder.DescendingOrder)
    top = model.stamp_index(0)
    assert probs.max(1)[top] == probs.max(1).max()
    # the catalog has types of its own: they stay
    assert list(np.asarray(stamps.catalog["galtype"])) == list(np.asarray(make_stampset(16, 48, 1).catalog["galtype"]))
    from astropy.table import Table

    table = Table({"id": stamps.ids, "gini": rng.uniform(0.4, 0.6, n), "m20": rng.uniform(-2.5, -1, n),
                   "concentration": rng.uniform(2, 4, n), "asymmetry": rng.uniform(0, 0.3, n),
                   "smoothness": rng.uniform(0, 0.1, n), "sersic_n": rng.uniform(0.5, 4, n),
                   "rhalf": rng.uniform(1, 8, n), "flag": np.zeros(n, int)})
    ctl.diagnostics = table
    ctl.set_columns({name: np.asarray(table[c]) for name, c in
                     (("gini", "gini"), ("m20", "m20"), ("sersic_n", "sersic_n"))})
    ctl.diagnosticsChanged.emit()
    assert {"gini", "m20", "sersic_n"} <= set(model.columns)
    panel = window.morphology_panel
    rows, x, y = panel.points()
    assert len(rows) == n and np.allclose(x, table["m20"]) and np.allclose(y, table["gini"])
    assert panel.select_row(7) and window.catalog.current_stamp() == 7    # a click on a point selects it
    panel.which.setCurrentIndex(1)
    rows, x, _ = panel.points()
    assert np.allclose(x, table["rhalf"])


def test_predicted_types_fill_an_empty_galtype_so_the_type_filter_works(window):
    stamps = window.state.stamps
    stamps.catalog["galtype"] = ["unknown"] * len(stamps)
    window.set_stamps(stamps)
    ctl = window.morphology
    ctl.predicted = np.asarray(["irr", "disk"] * (len(stamps) // 2))
    ctl.probabilities = np.full((len(stamps), 6), 1 / 6)
    ctl._publish_predictions()
    assert list(stamps.catalog["galtype"]) == list(ctl.predicted)
    assert set(stamps.catalog["galtype_catalog"]) == {"unknown"}
    box = window.catalog.types["irr"]
    assert box.isEnabled()
    box.setChecked(False)
    window.catalog.apply_filter()
    assert window.catalog.model.rowCount() == len(stamps) // 2
    ps = window.catalog.types["ps"]     # predicted types: all six classes offered, greyed when none is of one
    assert ps.isVisibleTo(window.catalog) and not ps.isEnabled()


def test_point_sources_and_unclassifiable_predictions_can_be_filtered_out(window):
    """The classifier's two extra types get their boxes when it predicts them (unticking the four catalog
    types used to leave every point source and unclassifiable object listed, and drawn as pairs)."""
    stamps = window.state.stamps
    stamps.catalog["galtype"] = ["unknown"] * len(stamps)
    window.set_stamps(stamps)
    ctl = window.morphology
    ctl.predicted = np.asarray(["disk", "ps", "unc", "sph"] * (len(stamps) // 4))
    ctl.probabilities = np.full((len(stamps), 6), 1 / 6)
    ctl._publish_predictions()
    boxes = window.catalog.types
    assert all(boxes[t].isVisibleTo(window.catalog) and boxes[t].isEnabled() for t in ("ps", "unc"))
    for t in ("ps", "unc"):
        boxes[t].setChecked(False)
    window.catalog.apply_filter()
    assert window.catalog.model.rowCount() == len(stamps) // 2
    kept = {str(stamps.catalog["galtype"][window.catalog.model.stamp_index(r)]) for r in range(len(stamps) // 2)}
    assert kept == {"disk", "sph"}
    assert set(window.state.filter.excluded_types) >= {"ps", "unc"}   # the random pairs' filter too


def _open(qtbot, tmp_path, stamps):
    settings = QSettings(str(tmp_path / "settings2.ini"), QSettings.Format.IniFormat)
    win = MainWindow(stamps, settings=settings)
    qtbot.addWidget(win)
    win.resize(1300, 850)
    win.show()
    qtbot.waitExposed(win)
    return win


def test_label_twenty_galaxies_export_fine_tune_and_the_catalog_follows(qtbot, tmp_path, monkeypatch):
    """The issue's Done-when in the app: label twenty galaxies with the keys, export the label file (Ctrl+Shift+L),
    fine-tune the classifier on the votes (Ctrl+Shift+F), and the catalog's predictions change. On the real COSMOS
    stamps when they are here (their catalog has no types: the predictions fill ``galtype``)."""
    from conftest import COSMOS_DIR

    from candels_gui.core import load_stampset
    from candels_gui.gui import labelling as labelling_module
    from candels_gui.gui import morphology_ctl

    monkeypatch.setenv("CANDELS_GUI_AUTOSAVE_DIR", str(tmp_path / "autosave"))
    monkeypatch.setenv("CANDELS_GUI_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(morphology_ctl, "FINE_TUNE_EPOCHS", 2)        # a short fine-tuning keeps the test fast
    errors = []
    monkeypatch.setattr(QMessageBox, "critical", staticmethod(lambda p, t, m, *a, **k: errors.append((t, m))))
    monkeypatch.setattr(QMessageBox, "question", staticmethod(lambda *a, **k: QMessageBox.StandardButton.Discard))
    stamps = load_stampset(COSMOS_DIR) if COSMOS_DIR.exists() else make_stampset(n=30, size=64, seed=3)
    win = _open(qtbot, tmp_path, stamps)
    try:
        ctl, view, model = win.morphology, win.labelling, win.catalog.model
        with qtbot.waitSignal(ctl.predictionsChanged, timeout=60_000):
            ctl.classify()                                   # what opening the data does (automatic in the app)
        before = ctl.probabilities.copy()
        assert before.shape == (len(stamps), 6) and np.allclose(before.sum(1), 1, atol=1e-5)
        col = model.columns.index("galtype_pred")
        assert [model.data(model.index(model.line_of(i), col)) for i in range(5)] == list(ctl.predicted[:5])

        win.actions_by_name["labelling_mode"].trigger()
        view.labeller.setText("eve")
        win.catalog.table.selectRow(0)
        keys = [Qt.Key.Key_I] * 16 + [Qt.Key.Key_D] * 4        # one labeller's twenty votes, one key each
        labelled = []
        for key in keys:
            labelled.append(int(stamps.ids[view.current_stamp()]))
            _key(qtbot, win, key)
        votes = win.session_ctl.session.morph_votes
        assert len(votes) == 20 and len(set(labelled)) == 20
        assert [votes.get(g, "eve") for g in labelled] == ["irr"] * 16 + ["disk"] * 4

        out = tmp_path / "eyeball.csv"
        monkeypatch.setattr(labelling_module.QFileDialog, "getSaveFileName",
                            staticmethod(lambda *a, **k: (str(out), "Label files (*.csv)")))
        win.actions_by_name["export_labels"].trigger()
        labels = read_labels_csv(out, known_ids=stamps.ids)
        assert sorted(labels.ids.tolist()) == sorted(labelled)
        voted = {g: ("irr" if k < 16 else "disk") for k, g in enumerate(labelled)}
        cls = ("sph", "sphd", "disk", "irr", "ps", "unc")
        assert all(labels.fractions[i, cls.index(voted[int(g)])] == 1 for i, g in enumerate(labels.ids))

        with qtbot.waitSignal(ctl.predictionsChanged, timeout=240_000):
            win.actions_by_name["fine_tune_morph"].trigger()     # trains, then classifies with the new weights
        assert ctl.weights is not None and ctl.weights.is_file()
        assert ctl.weights.parent == tmp_path / "cache"
        after = ctl.probabilities
        rows = stamps.indices_of(np.asarray(labelled))
        want = np.asarray([cls.index(voted[g]) for g in labelled])
        p_before, p_after = before[rows, want].mean(), after[rows, want].mean()
        # the classifier learned the votes: the voted classes' mean probability closes at least a tenth of its gap
        # to 1 (the synthetic stamps used without COSMOS start near 0.73; COSMOS lower)
        assert p_after > p_before + 0.1 * (1 - p_before), (p_before, p_after)
        assert not np.allclose(after, before)        # (the most probable class may stay: all irr on synthetic stamps)
        assert [model.data(model.index(model.line_of(i), col)) for i in range(len(stamps))] == list(ctl.predicted)
        assert errors == []
    finally:
        win.tasks.cancel_all()
        win.tasks.wait(5000)


def test_automatic_morphology_waits_for_the_users_own_task(window, qtbot, monkeypatch):
    """Data opens while an export runs: the automatic classifying and measuring wait until the task runner is
    idle (spawning their children and sending them the stamps would stall the window during the export)."""
    ctrl = window.morphology
    started: list[str] = []
    ctrl._auto_timer.setInterval(20)
    monkeypatch.setattr(ctrl, "classify", lambda *a, **k: started.append("classify"))
    monkeypatch.setattr(ctrl, "measure", lambda *a, **k: started.append("measure"))
    busy = [True]
    monkeypatch.setattr(type(window.tasks), "busy", property(lambda self: busy[0]))
    ctrl._auto_stamps = window.state.stamps
    ctrl._auto_start()
    qtbot.wait(120)                                  # several retries while the runner stays busy
    assert started == []
    busy[0] = False
    qtbot.waitUntil(lambda: started == ["classify", "measure"], timeout=2000)


def test_a_window_closed_before_the_automatic_morphology_starts_nothing(qtbot, tmp_path, monkeypatch):
    """The automatic classifying waits AUTO_DELAY_MS after data opens; a window closed and destroyed in that
    time must start nothing (its pending start once ran on the destroyed task runner and raised "wrapped C/C++
    object of type TaskRunner has been deleted" in the event loop, which pytest-qt turns into a failure)."""
    from PyQt6.QtCore import QCoreApplication, QEvent

    import candels_gui.gui.morphology_ctl as ctl

    monkeypatch.setenv(ctl.AUTO_ENV, "1")
    monkeypatch.setattr(ctl, "AUTO_DELAY_MS", 50)
    monkeypatch.setenv("CANDELS_GUI_AUTOSAVE_DIR", str(tmp_path / "autosave"))
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(make_stampset(n=8, size=48, seed=2), settings=settings)
    win.show()
    qtbot.waitExposed(win)
    started: list[str] = []
    monkeypatch.setattr(ctl.MorphologyController, "classify", lambda self, *a: started.append("classify"))
    monkeypatch.setattr(ctl.MorphologyController, "measure", lambda self, *a: started.append("measure"))
    win.close()                                      # closed, not yet deleted: the event loop goes on
    qtbot.wait(200)                                  # four times the delay
    assert started == []
    win.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)
    qtbot.wait(200)
    assert started == []


def test_weights_that_do_not_load_are_not_kept(window, qtbot, tmp_path):
    """Picking a weights file that fails to load says so and keeps the classifier in use (it was remembered, and
    every data set opened afterwards failed with the same message)."""
    bad = tmp_path / "bad.pt"
    bad.write_text("not weights")
    ctrl = window.morphology
    shown: list[str] = []
    window.statusBar().messageChanged.connect(lambda text: shown.append(text))
    ctrl.classify(bad)
    qtbot.waitUntil(lambda: any("not available" in t for t in shown), timeout=60000)
    assert ctrl.weights is None
    assert any("the shipped classifier stays in use" in t for t in shown), shown


def test_automatic_morphology_does_what_the_user_has_not_already_had_done(window, qtbot, monkeypatch):
    """The user classified with their weights in the data's first seconds: the automatic start still measures
    the diagnostics (it skipped both whenever any morphology task of this data had been started)."""
    ctrl = window.morphology
    started: list[str] = []
    monkeypatch.setattr(ctrl, "classify", lambda *a, **k: started.append("classify"))
    monkeypatch.setattr(ctrl, "measure", lambda *a, **k: started.append("measure"))
    ctrl.probabilities = np.full((len(window.state.stamps), 6), 1 / 6)   # the user's classification delivered
    ctrl._auto_stamps = window.state.stamps
    ctrl._auto_start()
    assert started == ["measure"]


def test_closing_and_recovery_prompts_count_the_labelled_galaxies(window, tmp_path, monkeypatch):
    """With 3 votes and no queued blend the close prompt said '(0 queued blends)' and the crash-recovery prompt
    'It kept 0 queued blends': a labeller reading 0 would discard the work."""
    from candels_gui.core.curation.session import list_recoverable

    asked = []
    monkeypatch.setattr(QMessageBox, "question", staticmethod(
        lambda parent, title, text, *a, **k: (asked.append(text), QMessageBox.StandardButton.Cancel)[1]))
    session = window.session_ctl.session
    for gid, cls in zip(window.state.stamps.ids[:3], ("disk", "irr", "sph")):
        session.set_vote(int(gid), "ana", cls)
    assert not window.session_ctl.confirm_discard()
    assert "(0 queued blends and 3 labelled galaxies)" in asked[-1]
    session.flush_autosave()
    found = [a for a in list_recoverable(tmp_path / "autosave")]
    assert [a.n_labelled for a in found] == [3] and found[0].describe() == "0 queued blends and 3 labelled galaxies"


def test_the_labelling_view_zooms_on_the_galaxy_unless_asked_not_to(window, qtbot):
    from candels_gui.core.display.zoom import galaxy_window

    view = window.labelling
    window.actions_by_name["labelling_mode"].trigger()
    window.catalog.table.selectRow(2)
    stamp = view.current_stamp()
    x0, y0, w, h = galaxy_window(np.asarray(window.state.stamps.segmaps[stamp]))
    assert w < 48 and h < 48                                   # the small galaxy, not the whole 48 px stamp
    shown = view.view.vb.viewRange()
    assert shown[0][0] == pytest.approx(x0 - 0.5, abs=2) and shown[0][1] - shown[0][0] < 47
    view.zoom.setChecked(False)
    shown = view.view.vb.viewRange()
    assert shown[0][1] - shown[0][0] >= 48                     # the whole stamp


def test_statmorph_in_the_app_shows_the_galaxies_measured_so_far(window, qtbot, tmp_path, monkeypatch):
    """Measuring a data set takes a minute on one core: the catalog and the scatter show the first galaxies'
    diagnostics while the rest are measured, the others marked as pending, then all of them."""
    import candels_gui.gui.morphology_ctl as morphology_ctl
    from candels_gui.core.measure.morphology import PENDING_FLAG

    monkeypatch.setenv("CANDELS_GUI_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(morphology_ctl, "PARTIAL_EVERY_S", 0.0)
    ctl, seen = window.morphology, []
    ctl.diagnosticsChanged.connect(lambda: seen.append(None if ctl.diagnostics is None
                                                       else int((ctl.diagnostics["flag"] == PENDING_FLAG).sum())))
    ctl.measure()
    qtbot.waitUntil(lambda: bool(seen) and seen[-1] == 0 and not window.tasks.busy, timeout=120000)
    assert window.errors == []
    assert any(n and 0 < n < len(window.state.stamps) for n in seen), seen     # a partial table was shown
    columns = window.catalog.model.columns
    assert {"gini", "m20", "morph_flag"} <= set(columns)
    flags = [window.catalog.model.data(window.catalog.model.index(r, columns.index("morph_flag")))
             for r in range(window.catalog.model.rowCount())]
    assert "…" not in flags and len(ctl.diagnostics) == len(window.state.stamps)
