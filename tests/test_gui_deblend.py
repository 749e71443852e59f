"""The Deblend panel and the Train dialog, offscreen (pytest-qt; Qt warnings fail tests)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PyQt6.QtCore import QEvent, QSettings, QTimer  # noqa: E402
from PyQt6.QtWidgets import QApplication, QMessageBox  # noqa: E402

from candels_gui.core.blending.sampling import SamplingRules, sample_specs  # noqa: E402
from candels_gui.deblend import base as deblend_base  # noqa: E402
from candels_gui.deblend.base import DeblendResult, Deblender, catalog_table  # noqa: E402
from candels_gui.gui.app import MainWindow  # noqa: E402
from candels_gui.gui.deblend_view import ResultCache, residual_image, segmentation_overlay  # noqa: E402
from candels_gui.gui.train_dialog import parse_epoch_message  # noqa: E402
from conftest import make_stampset  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")


class CountingDeblender(Deblender):
    """One source per blend (the whole image); records every blend it sees and can be slow."""

    name = "test-counting"
    seen: list[int] = []
    delay = 0.0

    def _run_batch(self, images, psf, noise_sigma):
        out = []
        for im in images:
            CountingDeblender.seen.append(1)
            time.sleep(CountingDeblender.delay)
            h, w = im.shape
            out.append(DeblendResult(catalog_table([w / 2], [h / 2], [float(im.sum())]),
                                     np.ones((1, h, w), bool), im[None].copy(), name=self.name))
        return out


@pytest.fixture
def counting():
    CountingDeblender.seen = []
    CountingDeblender.delay = 0.0
    deblend_base.register("test-counting", lambda **kw: CountingDeblender(**kw), "test", replace=True)
    yield CountingDeblender
    deblend_base._REGISTRY.pop("test-counting", None)


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch, counting):
    monkeypatch.setenv("CANDELS_GUI_RESOURCES", str(tmp_path / "resources"))  # no torch weights
    monkeypatch.setenv("CANDELS_GUI_AUTOSAVE_DIR", str(tmp_path / "autosave"))
    monkeypatch.setattr(QMessageBox, "critical", staticmethod(lambda *a, **k: pytest.fail(str(a))))
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(make_stampset(n=16, size=48, seed=1), settings=settings)
    qtbot.addWidget(win)
    win.resize(1300, 900)
    win.show()
    qtbot.waitExposed(win)
    # the widgets earlier tests closed are deleted now, not in the middle of a timing check below
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)
    QApplication.processEvents()
    yield win
    win.tasks.cancel_all()
    win.tasks.wait(10000)


def _run_and_wait(qtbot, panel, fn, timeout=20000):
    finished = []
    panel.runFinished.connect(finished.append)
    task = fn()
    if task is not None:
        qtbot.waitUntil(lambda: bool(finished), timeout=timeout)
    panel.runFinished.disconnect(finished.append)
    return task, finished


def test_app_start_does_not_import_torch():
    code = ("import sys; sys.path.insert(0, 'tests'); import os; os.environ['QT_QPA_PLATFORM'] = 'offscreen'\n"
            "from PyQt6.QtCore import QSettings\nfrom PyQt6.QtWidgets import QApplication\n"
            "app = QApplication([])\nfrom conftest import make_stampset\n"
            "from candels_gui.gui.app import MainWindow\nimport tempfile\n"
            "s = QSettings(tempfile.mktemp(suffix='.ini'), QSettings.Format.IniFormat)\n"
            "w = MainWindow(make_stampset(n=8, size=32), settings=s); w.show(); app.processEvents()\n"
            "print('DEBLEND', len(w.deblend_panel.checks), 'torch' in sys.modules, 'jax' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(ROOT),
                         timeout=120)
    line = [x for x in out.stdout.splitlines() if x.startswith("DEBLEND")]
    assert line, out.stderr
    assert line[0].split()[1:] == ["7", "False", "False"]  # seven deblenders listed, torch and JAX not imported


def test_panel_runs_classical_deblenders_without_blocking_the_ui(window, qtbot, counting):
    panel = window.deblend_panel
    assert panel.device_label.text() == "torch: not run yet"
    for name in ("unet-seg", "cgan", "blend2flux"):  # no weights under the test's resources folder
        assert not panel.checks[name].isEnabled()
        assert f"candels-gui train --model {name}" in panel.checks[name].toolTip()
    counting.delay = 0.3
    panel.set_selected(["photutils", "sep", "test-counting"])
    ticks, arrived = [0], {}
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.__setitem__(0, ticks[0] + 1))
    timer.start(10)
    panel.resultsReady.connect(lambda name, specs, res: arrived.setdefault(name, ticks[0]))
    task, finished = _run_and_wait(qtbot, panel, panel.run_current)
    timer.stop()
    assert task is not None and finished[0] == {"photutils": 1, "sep": 1, "test-counting": 1}
    assert arrived["test-counting"] >= 3  # the UI thread kept running its timer while the worker ran
    spec, blend = window.state.spec, window.editor.last_blend.image
    for name in ("photutils", "sep"):
        res = panel.cache.get(name, spec)
        assert isinstance(res, DeblendResult) and res.name == name and res.n_sources >= 1
        row = panel.rows[name]
        assert row.isVisibleTo(panel) and "source(s)" in row.caption_text()
        shown = row.shown()
        np.testing.assert_array_equal(shown[0], blend)
        np.testing.assert_array_equal(shown[1], res.images[0])
        np.testing.assert_allclose(shown[3], blend - res.images.sum(axis=0), atol=1e-5)
        assert tuple(row.items[0].getLevels()) == pytest.approx(window.display.levels)  # shared levels
    assert "Done" in panel.status.text()
    assert panel.device_label.text() == "torch: not run yet"  # no torch deblender ran


def test_panel_runs_scarlet_in_the_background(window, qtbot):
    panel = window.deblend_panel
    assert panel.checks["scarlet"].isEnabled()  # no weights needed
    panel.set_selected(["scarlet"])
    ticks, arrived = [0], []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.__setitem__(0, ticks[0] + 1))
    timer.start(10)
    panel.resultsReady.connect(lambda name, specs, res: arrived.append(ticks[0]))
    task, finished = _run_and_wait(qtbot, panel, panel.run_current, timeout=120000)
    timer.stop()
    assert finished[0] == {"scarlet": 1}
    assert arrived[0] >= 3  # JAX compiled and scarlet fitted while the UI thread kept its timer running
    res = panel.cache.get("scarlet", window.state.spec)
    assert res.name == "scarlet" and res.device == "cpu" and res.n_sources >= 1
    shown, blend = panel.rows["scarlet"].shown(), window.editor.last_blend.image
    np.testing.assert_array_equal(shown[1], res.images[0])
    np.testing.assert_allclose(shown[3], blend - res.images.sum(axis=0), atol=1e-5)
    assert panel.device_label.text() == "torch: not run yet"  # scarlet runs on JAX, not torch


def test_reselecting_a_blend_shows_cached_results_without_a_second_run(window, qtbot, counting):
    panel = window.deblend_panel
    panel.set_selected(["sep", "test-counting"])
    first = window.state.spec
    _run_and_wait(qtbot, panel, panel.run_current)
    assert len(counting.seen) == 1
    window.state.random_pair()
    assert window.state.spec != first
    assert "not run for this blend" in panel.rows["sep"].caption_text()
    window.state.set_spec(first)
    assert "cached" in panel.rows["sep"].caption_text()  # shown at once, on the UI thread
    assert "cached" in panel.rows["test-counting"].caption_text()
    np.testing.assert_array_equal(panel.rows["test-counting"].shown()[1], window.editor.last_blend.image)
    assert panel.run_current() is None and not panel.busy  # everything cached: no task
    assert len(counting.seen) == 1
    # the action (Ctrl+D) runs only what is missing: sep is cached, photutils is new
    panel.set_selected(["photutils", "sep"])
    _run_and_wait(qtbot, panel, lambda: (window.actions_by_name["run_deblenders"].trigger(), panel.task)[1])
    assert panel.cache.get("photutils", first) is not None and len(counting.seen) == 1


def test_cancel_stops_a_long_run_on_many_blends(window, qtbot, counting):
    panel = window.deblend_panel
    counting.delay = 0.05
    panel.set_selected(["test-counting"])
    specs = sample_specs(window.state.stamps, 40, SamplingRules(), seed=3)
    panel.set_queue_source(lambda: specs)
    assert panel.queue_button.isEnabled()
    got = []
    panel.resultsReady.connect(lambda name, s, r: got.append(len(r)))
    finished = []
    panel.runFinished.connect(finished.append)
    panel.queue_button.click()
    assert panel.busy and panel.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: bool(got), timeout=10000)
    panel.cancel_button.click()
    assert panel.status.text().startswith("Cancelling") and not panel.cancel_button.isEnabled()   # said at once
    qtbot.waitUntil(lambda: bool(finished), timeout=10000)
    assert finished == [None] and "Cancelled" in panel.status.text()
    assert len(counting.seen) < 40  # stopped within a chunk or two, not at the end
    cached = sum(("test-counting", s) in panel.cache for s in specs)
    assert cached == sum(got) and 0 < cached < 40
    # a rerun deblends only what is missing
    counting.delay = 0.0
    before = len(counting.seen)
    _run_and_wait(qtbot, panel, panel.run_queue)
    assert len(counting.seen) - before == 40 - cached


def test_results_of_data_since_replaced_are_not_kept(window, qtbot, counting):
    """Opening other data while a run goes on: a result that arrives after the switch was computed on the old
    pixels, and was cached and shown as the new data's."""
    panel = window.deblend_panel
    counting.delay = 0.05
    panel.set_selected(["test-counting"])
    specs = sample_specs(window.state.stamps, 40, SamplingRules(), seed=3)
    panel.set_queue_source(lambda: specs)
    got = []
    panel.resultsReady.connect(lambda name, s, r: got.append(len(r)))
    panel.queue_button.click()
    qtbot.waitUntil(lambda: bool(got), timeout=10000)
    window.set_stamps(make_stampset(n=16, size=48, seed=1))    # the same galaxies' IDs, new pixels
    seen = len(counting.seen)
    qtbot.waitUntil(lambda: not panel.busy, timeout=10000)
    assert len(counting.seen) >= seen                         # the cancelled run may finish its blend...
    assert not any(("test-counting", s) in panel.cache for s in specs)   # ...whose result is not kept


def test_run_on_queue_uses_the_session_queue(window, qtbot, counting):
    panel = window.deblend_panel
    panel.set_selected(["test-counting"])
    assert panel.run_queue() is None and "queue is empty" in panel.status.text()
    specs = sample_specs(window.state.stamps, 3, SamplingRules(), seed=9)
    window.session_ctl.session.add_specs(specs)
    _run_and_wait(qtbot, panel, lambda: (panel.queue_button.click(), panel.task)[1])
    assert all(("test-counting", s) in panel.cache for s in specs) and len(counting.seen) == 3
    window.session_ctl.session.mark_saved()  # no Save/Discard question when the window closes


def test_train_dialog_trains_and_the_panel_uses_the_weights(window, qtbot, tmp_path):
    from candels_gui.core.store.export import export
    from candels_gui.core.jobs import run_job

    stamps = window.state.stamps
    data = tmp_path / "tiny.h5"
    run_job(export(data, window.state.engine, sample_specs(stamps, 24, SamplingRules(), seed=5), fmt="hdf5"))
    panel = window.deblend_panel
    dialog = panel.open_train_dialog()
    dialog.model.setCurrentText("blend2flux")
    dialog.data.setText(str(data))
    dialog.epochs.setValue(1)
    dialog.batch_size.setValue(8)
    out = tmp_path / "weights" / "b2f.pt"
    dialog.output.setText(str(out))
    epochs = []
    dialog.epochDone.connect(lambda e, m: epochs.append((e, m)))
    with qtbot.waitSignal(dialog.trained, timeout=60000):
        dialog.start_button.click()
    assert out.is_file() and dialog.result.epochs_run == 1
    assert [e for e, _ in epochs] == [1] and {"train_loss", "val_loss"} <= set(epochs[0][1])
    xs, ys = dialog.train_curve.getData()
    assert list(xs) == [1] and ys[0] == pytest.approx(dialog.result.history[0]["train_loss"], rel=1e-3)
    assert len(dialog.val_curve.getData()[0]) == 1
    assert panel.weights["blend2flux"] == out and panel.checks["blend2flux"].isEnabled()
    assert "blend2flux" in panel.selected()
    panel.set_selected(["blend2flux"])
    _run_and_wait(qtbot, panel, panel.run_current, timeout=60000)
    res = panel.cache.get("blend2flux", window.state.spec)
    assert res is not None and res.n_sources == 2
    assert panel.device_label.text() == f"torch: {res.device}"
    dialog.close()


def _start_a_long_training(window, dialog, qtbot, tmp_path, out, *, seed):
    """Start a 500-epoch blend2flux training in ``dialog`` on 24 blends; returns (task, epochs done so far) once
    its first epoch has finished."""
    from candels_gui.core.store.export import export
    from candels_gui.core.jobs import run_job

    data = tmp_path / "tiny.h5"
    run_job(export(data, window.state.engine, sample_specs(window.state.stamps, 24, SamplingRules(), seed=seed),
                   fmt="hdf5"))
    dialog.model.setCurrentText("blend2flux")
    dialog.data.setText(str(data))
    dialog.output.setText(str(out))
    dialog.epochs.setValue(500)
    dialog.batch_size.setValue(4)
    epochs: list[int] = []
    dialog.epochDone.connect(lambda e, m: epochs.append(e))
    task = dialog.start()
    qtbot.waitUntil(lambda: bool(epochs), timeout=30000)
    return task, epochs


def test_train_dialog_refuses_a_missing_file_and_cancel_keeps_the_checkpoint(window, qtbot, tmp_path):
    dialog = window.deblend_panel.open_train_dialog()
    dialog.data.setText(str(tmp_path / "nope.h5"))
    assert dialog.start() is None and "is not a file" in dialog.status.text()
    out = tmp_path / "b2f.pt"
    task, epochs = _start_a_long_training(window, dialog, qtbot, tmp_path, out, seed=6)
    dialog.cancel_button.click()
    qtbot.waitUntil(lambda: task.done, timeout=30000)
    assert "checkpoint kept" in dialog.status.text() and dialog.result is None
    assert out.with_name("b2f.pt.ckpt").is_file() and not out.exists()
    assert len(epochs) < 500 and dialog.start_button.isEnabled()
    dialog.close()


def test_a_replaced_run_does_not_speak_for_the_panel(window, qtbot, counting):
    """A second run started while the first runs cancels the first; the first's late cancel callback must not
    say "Cancelled", stop the progress bar or emit runFinished for the run that is still going."""
    panel = window.deblend_panel
    counting.delay = 0.2
    panel.set_selected(["test-counting"])
    finished: list = []
    panel.runFinished.connect(finished.append)
    first = panel.run_current()
    qtbot.waitUntil(lambda: len(counting.seen) >= 1, timeout=10000)    # the first run is working
    window.state.random_pair()
    second = panel.run_current()                     # cancels the first
    assert second is not first
    qtbot.waitUntil(lambda: first.done, timeout=10000)
    qtbot.wait(50)
    if not second.done:                              # the first's cancel arrived while the second runs
        assert panel.busy and panel.cancel_button.isEnabled() and finished == []
    qtbot.waitUntil(lambda: second.done, timeout=10000)
    qtbot.waitUntil(lambda: bool(finished), timeout=2000)
    assert len(finished) == 1 and finished[0] is not None                # the second's counts, once
    assert panel.status.text().startswith("Done:"), panel.status.text()
    window.session_ctl.session.mark_saved()


def test_closing_the_train_dialog_while_it_trains_cancels_quietly(window, qtbot, tmp_path):
    """The dialog deletes itself on close; its training is cancelled and the cancel callback, which comes after,
    must not touch the deleted widgets ("wrapped C/C++ object ... has been deleted" in the event loop)."""
    dialog = window.deblend_panel.open_train_dialog()
    task, epochs = _start_a_long_training(window, dialog, qtbot, tmp_path, tmp_path / "b2f.pt", seed=7)
    dialog.close()                                   # deleted with the next deferred-delete pass
    qtbot.waitUntil(lambda: task.done, timeout=30000)
    qtbot.wait(100)                                  # the cancel callback has run: pytest-qt fails on its errors
    assert len(epochs) < 500 and not window.tasks.busy


def test_epoch_messages_cache_and_overlays():
    assert np.isnan(parse_epoch_message("cgan epoch 2/30: train_loss 0.25, val_loss nan")[1]["val_loss"])
    epoch, m = parse_epoch_message("cgan epoch 12/30: train_loss 0.25, val_loss 3.5e-02, val_l1 1e-3")
    assert epoch == 12 and m == {"train_loss": 0.25, "val_loss": 0.035, "val_l1": 0.001}
    assert parse_epoch_message("cgan epoch 12/30") is None
    assert parse_epoch_message("blend2flux: reading tiny.h5") is None
    cache = ResultCache(2)
    cache.put("a", 1, "r1")
    cache.put("a", 2, "r2")
    assert cache.get("a", 1) == "r1"  # now most recent
    cache.put("b", 1, "r3")
    assert cache.get("a", 2) is None and cache.get("a", 1) == "r1" and len(cache) == 2
    cache.drop("a")
    assert len(cache) == 1 and cache.get("b", 1) == "r3"
    seg = np.zeros((3, 10, 10), bool)
    seg[0, 1:4, 1:4] = seg[1, 5:9, 5:9] = seg[2, 0:2, 8:10] = True
    over = segmentation_overlay(seg)
    assert over.shape == (10, 10, 4) and over.dtype == np.uint8
    assert over[1, 1, 3] > 0 and over[2, 2, 3] == 0  # outline, not filled
    assert len({tuple(over[r, c, :3]) for r, c in ((1, 1), (5, 5), (0, 8))}) == 3
    res = DeblendResult(catalog_table([1], [1], [2.0]), seg[:1], np.ones((1, 10, 10), np.float32), name="x")
    np.testing.assert_array_equal(residual_image(np.full((10, 10), 3, np.float32), res), 2.0)
    with pytest.raises(ValueError, match="do not fit the blend"):
        residual_image(np.zeros((4, 4), np.float32), res)


def test_tta_box_runs_the_torch_deblenders_as_their_tta_variant(window, qtbot):
    from candels_gui.deblend import get

    panel = window.deblend_panel
    weights = ROOT / "resources" / "models" / "unet-seg.pt"
    panel.set_weights("unet-seg", weights)
    panel.set_selected(["sep", "unet-seg"])
    assert panel.selected() == ["sep", "unet-seg"] and not panel.tta_box.isChecked()
    panel.tta_box.setChecked(True)
    assert panel.selected() == ["sep", "unet-seg+tta"]  # classical deblenders have no variant
    assert panel.rows["unet-seg+tta"].isVisibleTo(panel) and not panel.rows["unet-seg"].isVisibleTo(panel)
    _run_and_wait(qtbot, panel, panel.run_current, timeout=60000)
    spec, blend = window.state.spec, window.editor.last_blend.image
    res = panel.cache.get("unet-seg+tta", spec)
    assert res is not None and res.name == "unet-seg+tta" and res.params["tta"] is True
    assert panel.cache.get("unet-seg", spec) is None
    direct = get("unet-seg+tta", weights=weights, device="cpu").run(blend[None])[0]
    np.testing.assert_array_equal(res.segmentation, direct.segmentation)
    assert panel.device_label.text() == f"torch: {res.device}"

    panel.tta_box.setChecked(False)  # the plain model runs beside it; both results stay cached
    assert panel.rows["unet-seg"].isVisibleTo(panel) and not panel.rows["unet-seg+tta"].isVisibleTo(panel)
    _run_and_wait(qtbot, panel, panel.run_current, timeout=60000)
    assert panel.cache.get("unet-seg", spec).params["tta"] is False
    assert window.compare.names_with_results(spec) == ["sep", "unet-seg", "unet-seg+tta"]
    colors = window.compare._colors(["unet-seg", "unet-seg+tta"])
    assert colors["unet-seg"] != colors["unet-seg+tta"]

    panel.set_selected(["unet-seg+tta", "photutils"])
    assert panel.tta_box.isChecked() and panel.selected() == ["photutils", "unet-seg+tta"]
    with pytest.raises(ValueError, match="all with"):
        panel.set_selected(["unet-seg", "cgan+tta"])
    with pytest.raises(ValueError, match="unknown"):
        panel.set_selected(["sep+tta"])
    panel.set_weights("unet-seg", weights)  # new weights forget both variants' results
    assert panel.cache.get("unet-seg+tta", spec) is None and panel.cache.get("unet-seg", spec) is None


def test_closing_while_a_blend_cannot_be_interrupted_waits_hidden_then_quits(window, qtbot, counting, monkeypatch):
    """A deblender in a step that checks no cancel token (a scarlet fit, JAX compiling it) outlasts the close's
    wait: the window hides at once, its objects live until the work stops (no 'deleted C/C++ object' error
    from the worker), then it closes and the app quits as if it had closed then."""
    from candels_gui.gui import app as app_module

    monkeypatch.setattr(app_module, "CLOSE_WAIT_MS", 50)
    quits = []
    monkeypatch.setattr(QApplication.instance(), "quit", lambda: quits.append(1))
    panel = window.deblend_panel
    counting.delay = 1.0
    panel.set_selected(["test-counting"])
    panel.run_current()
    qtbot.waitUntil(lambda: bool(counting.seen), timeout=10000)     # inside the uninterruptible blend
    window.close()
    assert not window.isVisible() and window._closing and window.tasks.busy and not quits
    qtbot.waitUntil(lambda: bool(quits), timeout=10000)
    assert not window.tasks.busy and quits == [1]


def test_a_run_with_scarlet_goes_blend_by_blend(counting):
    """scarlet takes seconds a blend: a run with it delivers results (and checks Cancel) after every blend,
    where the others go 8 at a time."""
    from candels_gui.core.jobs import run_job
    from candels_gui.gui.deblend_jobs import RUN_CHUNK, deblend_job

    stamps = make_stampset(n=16, size=48, seed=1)
    specs = sample_specs(stamps, 10, SamplingRules(), seed=3)
    images = np.zeros((48, 48), np.float32)
    for names, sizes in ((["photutils"], [RUN_CHUNK, 10 - RUN_CHUNK]), (["scarlet", "photutils"], [1] * 10)):
        emitted = {name: [] for name in names}
        run_job(deblend_job({n: specs for n in names}, lambda part: np.stack([images] * len(part)),
                            lambda name: CountingDeblender(),
                            lambda name, done, res: emitted[name].append(len(done))))
        assert all(got == sizes for got in emitted.values())


def test_a_task_started_just_before_the_close_runs_before_the_window_goes(window, qtbot):
    """superqt starts a worker from a 1 ms timer: a task started in the same turn as the close was not yet in
    the pool when the close waited for it, and ran (and reported to deleted objects) after the window had gone."""
    from candels_gui.core.jobs import check_cancel

    seen = []

    def job(token):
        seen.append("started")
        check_cancel(token)
        yield
        seen.append("not cancelled")

    def start_and_close():      # in the event loop, as a menu action runs: superqt then starts from a timer
        window.tasks.run_job("late task", job, on_result=lambda _r: None, on_error=lambda _e: None)
        window.close()
        seen.append("closed")

    QTimer.singleShot(0, start_and_close)
    qtbot.waitUntil(lambda: "closed" in seen, timeout=5000)
    qtbot.wait(100)
    assert seen == ["started", "closed"]    # it ran, saw the cancel and stopped before the close returned
