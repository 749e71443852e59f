"""Starting the app: the themed QApplication and :func:`run_app` (what ``candels-gui [PATH]`` opens)."""

from __future__ import annotations

import os
import sys
import traceback
from typing import Any

from PyQt6.QtCore import QRect
from PyQt6.QtWidgets import QApplication, QMessageBox

from .. import __version__
from .app import MainWindow, error_text
from .style import apply_theme

__all__ = ["make_app", "run_app", "quit_on_signals"]


def _install_excepthook(window: MainWindow) -> None:
    """Unexpected errors in slots: a dialog with the message (traceback to stderr), never an abort."""
    def hook(exc_type: type[BaseException], exc: BaseException, tb: Any) -> None:
        traceback.print_exception(exc_type, exc, tb, file=sys.stderr)
        try:
            QMessageBox.critical(window, "Unexpected error", error_text(exc))
        except RuntimeError:  # window already gone
            pass

    sys.excepthook = hook


def quit_on_signals(app: QApplication, window: MainWindow) -> None:
    """SIGTERM, SIGINT and SIGHUP (``kill``, Ctrl-C in the terminal, the terminal closed) quit the app as its
    Cancel buttons do: the running work (an export, a training) is cancelled and cleans up after itself, then
    the app exits with status 128 + the signal's number (130 for Ctrl-C, 143 for SIGTERM), as the commands do.
    The session's autosave (written after every change, at most every 0.5 s while edits come quickly, and
    flushed here) keeps the curation work.

    Qt's event loop runs no Python while idle, so a timer wakes the interpreter every 200 ms to let the
    Python signal handler run.
    """
    import signal

    from PyQt6.QtCore import QTimer

    def handler(signum: int, frame: object) -> None:  # noqa: ARG001
        window.session_ctl.session.flush_autosave()   # edits the autosave timer had not written yet
        window.tasks.cancel_all()
        window.tasks.wait(30_000)
        app.exit(128 + int(signum))

    for sig in (signal.SIGTERM, signal.SIGINT, getattr(signal, "SIGHUP", None)):
        if sig is not None:
            signal.signal(sig, handler)
    timer = QTimer(window)
    timer.setInterval(200)
    timer.timeout.connect(lambda: None)
    timer.start()


def make_app() -> QApplication:
    """The QApplication (created once), themed."""
    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1])
    app.setApplicationName("candels-gui")
    app.setOrganizationName("candels-gui")
    app.setApplicationVersion(__version__)
    apply_theme(app)  # type: ignore[arg-type]
    return app  # type: ignore[return-value]


def _exit_when_shown(app: QApplication, window: MainWindow) -> None:
    """``CANDELS_GUI_EXIT_WHEN_SHOWN=1`` (start-up benchmark, end-to-end tests): once the window is shown
    with its data loaded and a first blend rendered, print ``{"startup_s": S, "window": [W, H]}`` and quit
    (exit code 1 if the data could not be loaded). ``S`` counts from ``CANDELS_GUI_T0``, a
    ``time.perf_counter()`` value taken by the launching process (the same monotonic clock); ``null`` when
    that is not set."""
    import json
    import time

    from PyQt6.QtCore import QTimer

    t0 = os.environ.get("CANDELS_GUI_T0")

    def check() -> None:
        if window.isVisible() and window.state.stamps is not None and window.editor.frames > 0:
            timer.stop()
            elapsed = round(time.perf_counter() - float(t0), 4) if t0 else None
            print(json.dumps({"startup_s": elapsed, "window": [window.width(), window.height()]}), flush=True)
            app.quit()
        elif not window.tasks.busy and window.state.stamps is None:
            timer.stop()
            print("candels-gui: no data was loaded", file=sys.stderr, flush=True)
            app.exit(1)

    timer = QTimer(window)
    timer.setInterval(5)
    timer.timeout.connect(check)
    timer.start()


def fit_to_screen(window: MainWindow, area: QRect | None = None) -> bool:
    """Shrink ``window`` to its screen's available area (or ``area``) when it does not fit (a 1280x800 laptop
    gets a 1280x800 window, not the 1600x1000 default hanging off its edges) and put it at the area's corner.
    Where the docks side by side are wider than the area (a 1024 px screen, half of a 1920 px one), the
    Display dock joins the Catalog and Queue docks as a tab of one column. Returns True when it was shrunk
    (the caller then shows it maximized, so a window manager fits its frame too)."""
    if area is None:
        screen = window.screen() or QApplication.primaryScreen()
        if screen is None:
            return False
        area = screen.availableGeometry()
    if window.width() <= area.width() and window.height() <= area.height():
        return False
    if window.minimumSizeHint().width() > area.width() and not window.display_dock.isFloating():
        window.tabifyDockWidget(window.catalog_dock, window.display_dock)
        window.catalog_dock.raise_()
        window.layout().activate()
    low = window.minimumSizeHint()
    window.resize(max(min(window.width(), area.width()), low.width()),
                  max(min(window.height(), area.height()), low.height()))
    window.move(area.topLeft())
    return True


def run_app(path: str | os.PathLike | None, session: str | os.PathLike | None = None) -> int:
    """Open the main window on ``path`` and run the event loop; returns the exit code.

    ``session`` (a saved curation session) is opened with its data (``path`` when the session's data
    is not found). Without one, unsaved work a crash left (any session, any data) is offered at once.
    """
    app = make_app()
    window = MainWindow(None if session is not None else path)
    _install_excepthook(window)
    quit_on_signals(app, window)
    window.session_ctl.recover_on_load = True
    if fit_to_screen(window):
        window.showMaximized()
    else:
        window.show()
    if session is not None:
        window.session_ctl.open_session(session, fallback_data=path)
    elif not os.environ.get("CANDELS_GUI_EXIT_WHEN_SHOWN"):
        from PyQt6.QtCore import QTimer

        # work a crash left behind is offered at once, whatever data opens (its own data is opened)
        QTimer.singleShot(0, window.session_ctl.offer_startup_recovery)
    if os.environ.get("CANDELS_GUI_EXIT_WHEN_SHOWN"):
        _exit_when_shown(app, window)
    return app.exec()
