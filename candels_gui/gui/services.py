"""What panels, dialogs and controllers need of the main window, handed to them as one small object.

None of them imports :mod:`.app` (not even for a type hint): the window builds a :class:`WindowServices` and
gives it, with the objects each one acts on (the app state, the display model, the session controller), to
the parts it makes. A test can give them a stand-in the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from PyQt6.QtCore import QSettings
from PyQt6.QtWidgets import QWidget

from .workers import TaskRunner

__all__ = ["WindowServices"]


@dataclass(frozen=True)
class WindowServices:
    """The window's services.

    Attributes
    ----------
    parent : QWidget
        Parent of dialogs and message boxes.
    tasks : TaskRunner
        Runs long work in a background worker, with progress and Cancel in the status bar.
    show_error : callable
        ``show_error(title, exc)``: an error dialog with the core's message, never a traceback.
    status : callable
        ``status(text, msecs)``: a status-bar message for ``msecs`` milliseconds (0: until replaced).
    source_path : callable
        The path of the open data, or ``None``.
    open_path : callable
        Open data at a path (read in a worker).
    focus_views : callable
        Give the keyboard back to the views (after Enter or Escape in a field).
    settings : QSettings, optional
        The window's persistent settings (last folders, recent sessions, export choices).
    """

    parent: QWidget
    tasks: TaskRunner
    show_error: Callable[..., None]
    status: Callable[[str, int], None]
    source_path: Callable[[], "Path | None"]
    open_path: Callable[[Path], None]
    focus_views: Callable[[], None] = lambda: None
    settings: "QSettings | None" = None
