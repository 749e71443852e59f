"""Drives the real app in a real X window (Xvfb) with real mouse and key events (xdotool), from inside
the app's own process: the script starts the app as ``candels-gui`` does (:func:`run_app`) and a timer
walks a list of steps; each step sends X events through the X server (``xdotool``) and waits for the
app to show their effect. Run by ``tests/test_gui_e2e_xvfb.py``; not a test module itself.

Usage: ``python tests/xvfb_flow_driver.py {curate|recover} WORKDIR [DATA]``

* ``curate``: open DATA, first click on the catalog, then the keyboard only: pick, drag the companion (the
  mouse), queue and decide 20+ blends, review mode with undo, export (Export dialog), save the session
  (file dialog), then more edits; writes ``WORKDIR/expected.json`` and waits to be killed (``kill -9``).
* ``recover``: a plain relaunch (the sample data); accepts the recovery offer with the keyboard, checks
  the queue came back with its data, writes ``WORKDIR/recovered.json`` and exits.

Every failure is written to ``WORKDIR/failure.txt`` and exits with code 3.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PyQt6.QtCore import QPoint, Qt, QTimer  # noqa: E402
from PyQt6.QtWidgets import QApplication, QFileDialog, QLineEdit, QMessageBox, QWidget  # noqa: E402

WAIT_S = 60.0


class Failed(Exception):
    pass


def xdo(*args: str) -> None:
    """One xdotool command (real X events, through the X server)."""
    subprocess.run(["xdotool", *args], check=True, timeout=20, capture_output=True)


def key(*names: str) -> None:
    xdo("key", "--delay", "30", *names)


def centre(widget: QWidget, x: int | None = None, y: int | None = None) -> QPoint:
    local = QPoint(widget.width() // 2 if x is None else x, widget.height() // 2 if y is None else y)
    return widget.mapToGlobal(local)


def click(widget: QWidget, x: int | None = None, y: int | None = None) -> None:
    p = centre(widget, x, y)
    xdo("mousemove", "--sync", str(p.x()), str(p.y()))
    xdo("click", "1")


def focus_modal(kind: type):
    """Wait for a modal window of ``kind``, give it the keyboard as a window manager would, wait till active."""
    yield lambda: isinstance(QApplication.activeModalWidget(), kind) and QApplication.activeModalWidget().isVisible()
    modal = QApplication.activeModalWidget()
    if not modal.isActiveWindow():
        xdo("windowfocus", "--sync", str(int(modal.window().winId())))
    yield modal.isActiveWindow
    yield pause(0.1)


def pause(seconds: float):
    """A condition true ``seconds`` from now (the app runs meanwhile)."""
    until = time.monotonic() + seconds
    return lambda: time.monotonic() >= until


def steps_curate(window, work: Path, data: Path):
    """The whole curation flow; yields conditions (callables) to wait for."""
    ctl, state, view = window.session_ctl, window.state, window.editor.blend_view
    yield lambda: state.stamps is not None and window.editor.frames > 0 and window.isVisible()
    xdo("windowfocus", "--sync", str(int(window.winId())))
    yield window.isActiveWindow
    assert window.width() <= 1280 and window.height() <= 800, window.size()
    # the first click: a catalog row (the only mouse use of the keyboard flow)
    table = window.catalog.table
    click(table.viewport(), 40, table.rowViewportPosition(2) + 10)
    yield lambda: table.currentIndex().row() == 2
    picked = int(state.stamps.ids[window.catalog.current_stamp()])
    key("2")  # the row under the cursor becomes galaxy 2
    yield lambda: state.spec is not None and state.spec.id2 == picked
    # drag the companion handle with the mouse (sub-pixel; exact on release)
    before = state.spec
    handle = window.editor.handle
    scene_pos = view.vb.mapViewToScene(handle.pos())
    start = view.viewport().mapToGlobal(view.mapFromScene(scene_pos))
    xdo("mousemove", "--sync", str(start.x() - 1), str(start.y()))
    yield pause(0.2)
    xdo("mousemove", "--sync", str(start.x()), str(start.y()))  # hovering the handle
    yield pause(0.2)
    xdo("mousedown", "1")
    yield pause(0.2)
    for k in range(1, 9):
        xdo("mousemove", "--sync", str(start.x() + 3 * k), str(start.y() - 2 * k))
        yield pause(0.05)
    xdo("mouseup", "1")
    yield lambda: state.spec is not None and state.spec.dx != before.dx and not handle.moving
    dragged = state.spec
    # keys after a number box: click the Magnitude filter, type, Escape, then N works
    box = window.catalog.mag.low
    click(box)
    yield lambda: QApplication.focusWidget() in (box, box.lineEdit())
    key("Escape")
    yield lambda: QApplication.focusWidget() is view
    xdo("mousemove", "--sync", "5", "795")  # the mouse is not used again until the Export dialog
    key("Return", "a")  # queue the dragged blend, accept it
    yield lambda: len(ctl.session.queue) == 1 and ctl.session.queue[0].status == "accepted"
    assert ctl.session.queue[0].spec == dragged
    for k in range(21):  # twenty-one more with the keyboard alone: N, Enter, A / R / F
        n = len(ctl.session.queue)
        key("n", "Return", "arf"[k % 3] if k % 7 else "a")
        yield lambda n=n: len(ctl.session.queue) == n + 1 and ctl.session.queue[-1].status != "pending"
    specs = [item.spec for item in ctl.session.queue]
    from candels_gui.core.blending.sampling import duplicate_specs

    assert len(specs) == 22 and not duplicate_specs(specs), "duplicates in the queue"
    # review mode: back to the start, decide, undo lands on the undone one
    key("ctrl+r")
    yield lambda: window.review.active
    for _ in range(3):
        key("Up")
    yield lambda: window.queue_panel.current_row() is not None
    row = window.queue_panel.current_row()
    key("r")
    yield lambda: window.queue_panel.current_row() == row + 1
    key("ctrl+z")
    yield lambda: window.queue_panel.current_row() == row
    key("f")
    yield lambda: ctl.session.queue[row].status == "flagged" and window.queue_panel.current_row() == row + 1
    key("ctrl+r")
    yield lambda: not window.review.active
    # export: Ctrl+E, type the destination, click Export, Enter closes the "finished" box
    key("ctrl+e")
    yield lambda: getattr(window, "_export_dialog", None) is not None and window._export_dialog.isVisible()
    dialog = window._export_dialog
    click(dialog.dest)
    yield lambda: QApplication.focusWidget() is dialog.dest
    dest = work / "export"
    key("ctrl+a")
    xdo("type", "--delay", "5", str(dest))
    yield lambda: dialog.dest.text() == str(dest)
    accepted_at_export = [spec.to_dict() for spec in ctl.session.specs(("accepted",))]
    click(dialog.export_button)
    yield from focus_modal(QMessageBox)  # "Export finished"
    key("Return")
    yield lambda: QApplication.activeModalWidget() is None and (dest / "manifest.json").is_file()
    xdo("windowfocus", "--sync", str(int(window.winId())))  # what a window manager does when a box closes
    yield window.isActiveWindow
    # save: Ctrl+S opens the file dialog in the last folder used (not the package); type a name, Enter
    key("ctrl+s")
    yield from focus_modal(QFileDialog)
    fd = QApplication.activeModalWidget()
    assert not str(fd.directory().absolutePath()).startswith(str(ROOT)), fd.directory().absolutePath()
    session_file = work / "curation.json"
    yield lambda: isinstance(QApplication.focusWidget(), QLineEdit)
    key("ctrl+a")
    xdo("type", "--delay", "5", str(session_file))
    key("Return")
    yield lambda: session_file.is_file() and QApplication.activeModalWidget() is None
    xdo("windowfocus", "--sync", str(int(window.winId())))
    yield window.isActiveWindow
    # more work after the save, then the process is killed: only the autosave holds it
    time.sleep(0.05)
    key("n", "Return", "a")
    yield lambda: len(ctl.session.queue) == 23
    yield lambda: ctl.session.autosave_path is not None and ctl.session.autosave_path.is_file() and \
        ctl.session.autosave_path.stat().st_mtime > session_file.stat().st_mtime
    expected = {"queue": [[i.spec.to_dict(), i.status] for i in ctl.session.queue], "data": str(data),
                "session": str(session_file), "accepted_at_export": accepted_at_export,
                "exported": json.loads((dest / "manifest.json").read_text())["specs"][""]}
    (work / "expected.json").write_text(json.dumps(expected))
    while True:  # wait for kill -9
        yield lambda: False


def steps_recover(window, work: Path, data: Path | None):
    """A plain relaunch: the recovery offer comes at once; Enter takes it; the queue and its data return."""
    ctl = window.session_ctl
    expected = json.loads((work / "expected.json").read_text())
    yield lambda: isinstance(QApplication.activeModalWidget(), QMessageBox) and \
        "Recover" in QApplication.activeModalWidget().windowTitle()
    yield from focus_modal(QMessageBox)
    text = QApplication.activeModalWidget().text()
    assert f"{len(expected['queue'])} queued blends" in text and expected["session"] in text, text
    key("Return")  # Yes is the default button
    yield lambda: len(ctl.session.queue) == len(expected["queue"]) and window.state.stamps is not None
    got = [[i.spec.to_dict(), i.status] for i in ctl.session.queue]
    assert got == expected["queue"], "the recovered queue differs"
    assert window.source_path is not None and Path(window.source_path).resolve() == Path(expected["data"]).resolve()
    assert ctl.session.modified and str(ctl.session.path) == expected["session"]
    (work / "recovered.json").write_text(json.dumps({"n": len(got), "data": str(window.source_path)}))
    ctl.session.mark_saved()
    window.close()
    QApplication.instance().exit(0)
    yield lambda: True


def main() -> int:
    phase, work = sys.argv[1], Path(sys.argv[2])
    data = Path(sys.argv[3]) if len(sys.argv) > 3 else None
    from candels_gui.gui import launch

    holder: dict = {}
    original = launch.MainWindow

    class Window(original):  # the real window, sized for a 1280x800 laptop screen
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            self.resize(1280, 800)
            self.move(0, 0)
            holder["window"] = self

    launch.MainWindow = Window
    fail = work / "failure.txt"

    def run_steps() -> None:
        window = holder.get("window")
        if window is None:
            return
        try:
            if "steps" not in holder:
                holder["steps"] = (steps_curate if phase == "curate" else steps_recover)(window, work, data)
                holder["cond"], holder["since"] = (lambda: True), time.monotonic()
            if holder["cond"]():
                holder["cond"], holder["since"] = next(holder["steps"]), time.monotonic()
            elif time.monotonic() - holder["since"] > WAIT_S:
                frame = holder["steps"].gi_frame
                modal = QApplication.activeModalWidget()
                raise Failed(f"timed out waiting at line {frame.f_lineno if frame else '?'} of "
                             f"{Path(__file__).name}; modal: {modal!r} {getattr(modal, 'text', lambda: '')()!r}; "
                             f"focus: {QApplication.focusWidget()!r}; active: {QApplication.activeWindow()!r}; "
                             f"status: {window.statusBar().currentMessage()!r}")
        except StopIteration:
            timer.stop()
        except BaseException:
            fail.write_text(traceback.format_exc())
            os._exit(3)

    app = launch.make_app()
    app.setAttribute(Qt.ApplicationAttribute.AA_DontUseNativeDialogs)  # Qt's own file dialog: typed into
    timer = QTimer()
    timer.setInterval(40)
    timer.timeout.connect(run_steps)
    timer.start()
    return launch.run_app(data)


if __name__ == "__main__":
    sys.exit(main())
