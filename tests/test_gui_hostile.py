"""The app never hangs or dies on a file: every open (data, session, weights) goes through the core's
validation and ends in a dialog with its message; a bad session offers to open its data alone; a session
whose data path leaves its folder asks first."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PyQt6")
from PyQt6.QtCore import QSettings  # noqa: E402
from PyQt6.QtWidgets import QMessageBox  # noqa: E402

from candels_gui.gui.app import MainWindow  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hostile.fixtures import sample_arrays, write_candels  # noqa: E402

Btn = QMessageBox.StandardButton


@pytest.fixture
def dialogs(monkeypatch):
    seen = {"critical": [], "question": [], "information": []}
    answers = {"default": Btn.No}

    def question(parent, title, text, *args, **kwargs):
        seen["question"].append((title, text))
        return answers.get(title, answers["default"])

    monkeypatch.setattr(QMessageBox, "question", staticmethod(question))
    monkeypatch.setattr(QMessageBox, "critical",
                        staticmethod(lambda p, title, text, *a, **k: seen["critical"].append((title, text))))
    monkeypatch.setattr(QMessageBox, "information",
                        staticmethod(lambda p, title, text, *a, **k: seen["information"].append((title, text))))
    seen["answers"] = answers
    return seen


@pytest.fixture
def window(qtbot, tmp_path, dialogs, monkeypatch):
    monkeypatch.setenv("CANDELS_GUI_AUTOSAVE_DIR", str(tmp_path / "autosave"))
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(None, settings=settings)
    qtbot.addWidget(win)
    win.show()
    yield win
    win.tasks.cancel_all()
    win.tasks.wait(5000)


@pytest.fixture
def good_data(tmp_path):
    images, segmaps, lines = sample_arrays(16)
    return write_candels(tmp_path / "data", images, segmaps, lines)


def _bad_data(tmp_path: Path, kind: str) -> Path:
    images, segmaps, lines = sample_arrays(16)
    if kind == "truncated":
        d = write_candels(tmp_path / kind, images, segmaps, lines)
        (d / "candels_img.npy").write_bytes((d / "candels_img.npy").read_bytes()[:5000])
        return d
    if kind == "wrapped":
        return write_candels(tmp_path / kind, images, segmaps.astype(np.uint8),
                             [",".join(ln.split(",")[:-1]) for ln in lines])
    if kind == "nan-stamp":
        images[3] = np.nan
        return write_candels(tmp_path / kind, images, segmaps, lines)
    if kind == "channels-last":
        from astropy.io import fits

        p = tmp_path / "cube.fits"
        fits.PrimaryHDU(np.ascontiguousarray(np.moveaxis(images, 0, -1))).writeto(p)
        return p
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["truncated", "wrapped", "nan-stamp", "channels-last"])
def test_bad_data_ends_in_a_dialog(window, qtbot, tmp_path, dialogs, kind):
    window.open_path(_bad_data(tmp_path, kind))
    qtbot.waitUntil(lambda: bool(dialogs["critical"]), timeout=20000)
    qtbot.waitUntil(lambda: not window.tasks.busy, timeout=20000)
    (title, text), = dialogs["critical"]
    assert title.startswith("Cannot open") and "Traceback" not in text and text.strip()
    assert window.state.stamps is None
    assert window.statusBar().currentMessage().startswith("Could not open")   # not 'Loading …' left there


def _session(tmp_path: Path, data: Path, **edits) -> Path:
    from candels_gui.core.curation.session import Session

    s = Session(data_path=data, seed=1)
    path = s.save(tmp_path / "s.json")
    raw = json.loads(path.read_text())
    raw.update(edits)
    path.write_text(json.dumps(raw))
    return path


@pytest.mark.parametrize("edits", [{"seed": "abc"}, {"queue": {"a": 1}}, {"rules": [1]},
                                   {"current": {"id1": "a", "id2": 2}}, {"version": 7}])
def test_bad_session_offers_its_data_alone(window, qtbot, tmp_path, dialogs, good_data, edits):
    path = _session(tmp_path, good_data, **edits)
    dialogs["answers"]["Cannot open the session"] = Btn.Yes
    assert window.session_ctl.open_session(path) is False
    (title, text), = dialogs["question"]
    assert title == "Cannot open the session" and "Open its data without the session?" in text
    qtbot.waitUntil(lambda: window.state.stamps is not None, timeout=20000)
    assert window.source_path.resolve() == good_data.resolve() and not dialogs["critical"]


@pytest.mark.parametrize("text", [b"\x00\xff garbage", b"", b"[" * 100000, "{}".encode("utf-16")])
def test_unreadable_session_is_a_dialog(window, tmp_path, dialogs, text):
    path = tmp_path / "s.json"
    path.write_bytes(text)
    assert window.session_ctl.open_session(path) is False
    (title, message), = dialogs["critical"]
    assert title == "Cannot open the session" and str(path) in message


def test_session_data_outside_its_folder_asks(window, qtbot, tmp_path, dialogs, good_data):
    sessions = tmp_path / "sessions"
    sessions.mkdir()
    path = _session(sessions, good_data)          # data is ../data: outside the session's folder
    assert window.session_ctl.open_session(path) is False
    (title, text), = dialogs["question"]
    assert "outside" in title and str(good_data.resolve()) in text
    assert window.state.stamps is None and not window.tasks.busy   # answered No: nothing opened
    dialogs["answers"][title] = Btn.Yes
    window.session_ctl.open_session(path)
    qtbot.waitUntil(lambda: window.state.stamps is not None, timeout=20000)
    assert not dialogs["critical"]


def test_bad_weights_picked_in_the_app_are_refused(window, tmp_path, dialogs):
    panel = window.deblend_panel
    before = dict(panel.weights)
    bad = tmp_path / "w.pt"
    bad.write_bytes(b"not torch")
    assert panel.check_weights("unet-seg", bad) is False
    (title, text), = dialogs["critical"]
    assert "unet-seg" in title and str(bad) in text
    other = Path(before["blend2flux"])
    if other.is_file():
        assert panel.check_weights("unet-seg", other) is False   # weights of another model
    assert panel.weights == before


def test_bad_session_with_data_named_on_the_command_line(window, qtbot, tmp_path, dialogs, good_data):
    """``candels-gui DATA --session BAD``: the error is shown and DATA opens, without a question."""
    bad = tmp_path / "bad.json"
    bad.write_text("{ not json")
    assert window.session_ctl.open_session(bad, fallback_data=good_data) is False
    qtbot.waitUntil(lambda: window.state.stamps is not None, timeout=20000)
    assert [t for t, _ in dialogs["critical"]] == ["Cannot open the session"] and not dialogs["question"]


def test_session_naming_galaxies_the_data_lacks(window, qtbot, tmp_path, dialogs, good_data):
    """A session without a data hash whose blends name galaxies the data does not hold: refused with a
    dialog when its data is open, never an exception in the editor."""
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"format": "candels-gui-session", "version": 1, "seed": 1,
                                "data": {"path": "data", "hash": None},
                                "current": {"id1": 5, "id2": 6, "dx": 2.0},
                                "queue": [{"spec": {"id1": 1, "id2": 2, "dx": 3.0}}], "current_item": 0}))
    window.session_ctl.open_session(path)
    qtbot.waitUntil(lambda: bool(dialogs["critical"]), timeout=20000)
    (title, text), = dialogs["critical"]
    assert title == "Cannot open the session" and "names galaxy 5" in text
    assert window.state.stamps is not None and len(window.session_ctl.session.queue) == 0


@pytest.mark.parametrize("kind", ["truncated", "table", "all-nan", "infinite", "empty"])
def test_bad_field_in_the_field_tab_is_a_dialog(window, tmp_path, dialogs, kind):
    from astropy.io import fits

    path = tmp_path / f"{kind}.fits"
    img = np.random.default_rng(0).normal(size=(96, 96)).astype(np.float32)
    if kind == "truncated":
        fits.PrimaryHDU(img).writeto(path)
        path.write_bytes(path.read_bytes()[:9000])
    elif kind == "table":
        fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns([fits.Column("x", "E", array=[1.0])])]
                     ).writeto(path)
    else:
        img[:] = {"all-nan": np.nan, "empty": 0.0}.get(kind, img)
        if kind == "infinite":
            img[5, 5] = np.inf
        fits.PrimaryHDU(img).writeto(path)
    window.field_view.open_field(path)
    (title, text), = dialogs["critical"]
    assert title == "Cannot open the field" and str(path) in text and "Traceback" not in text
    assert window.field_view.field is None


def test_unwritable_destinations_are_named_not_a_temporary_file(window, qtbot, tmp_path, dialogs, good_data):
    """An export or a session save into a place that cannot be written says which place, in words: it said
    '[Errno 30] Read-only file system: …/.candels-gui-tmp-…-x.h5', a file the user never chose."""
    from candels_gui.core.atomic import temp_path
    from candels_gui.gui.app import error_text
    from candels_gui.gui.export_dialog import run_export

    window.open_path(good_data)
    qtbot.waitUntil(lambda: window.state.stamps is not None and not window.tasks.busy, timeout=20000)
    window.session_ctl.generate_random(4)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    run_export(window.session_ctl, window.services, on_exported=lambda r: None, dest=str(blocker / "x.h5"),
               fmt="hdf5", method=None, statuses=("pending",), test_ratio=None)
    assert not window.tasks.busy                                   # refused before any work
    assert window.session_ctl.save_as(blocker / "s.json") is False
    (t1, m1), (t2, m2) = dialogs["critical"]
    assert (t1, t2) == ("Export failed", "Cannot save the session")
    assert all(f"{blocker} is a file, not a folder" in m and "Errno" not in m for m in (m1, m2))
    # what a disk that fills or turns read-only midway raises, on the writer's temporary file
    tmp = temp_path(tmp_path / "out.h5")
    assert error_text(OSError(30, "Read-only file system", str(tmp))) == \
        f"cannot write in {tmp_path}: Read-only file system"
    assert error_text(OSError(13, "Permission denied", "/data/x.h5")) == "/data/x.h5: Permission denied"
