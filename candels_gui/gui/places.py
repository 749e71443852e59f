"""Where the user works: the last folder of each file dialog and the recent sessions (QSettings).

File dialogs start where the user last was, never inside the installed package (its bundled sample data
is read-only material, not a place to save work); with nothing remembered they start in the home folder.
"""

from __future__ import annotations

import os
from pathlib import Path

from PyQt6.QtCore import QSettings
from PyQt6.QtWidgets import QWidget

from ..paths import REPO_ROOT

__all__ = ["start_folder", "remember_folder", "recent_list", "add_recent", "window_settings", "MAX_RECENT"]

#: Entries kept in each recent list.
MAX_RECENT = 10


def _inside_package(path: Path) -> bool:
    try:
        path.resolve().relative_to(REPO_ROOT)
    except ValueError:
        return False
    return True


def start_folder(settings: QSettings | None, *candidates: str | os.PathLike | None) -> Path:
    """The folder a file dialog opens in: the first existing candidate outside the package, else the
    last folder used (any dialog), else the home folder."""
    remembered = settings.value("dialogs/last_folder", "") if settings is not None else ""
    for c in (*candidates, remembered):
        if not c:
            continue
        p = Path(c)
        folder = p if p.is_dir() else p.parent
        if folder.is_dir() and not _inside_package(folder):
            return folder
    return Path.home()


def remember_folder(settings: QSettings | None, path: str | os.PathLike) -> None:
    """The folder of ``path`` (or ``path`` itself when a folder) is where the next dialog starts."""
    if settings is None:
        return
    p = Path(path)
    folder = p if p.is_dir() else p.parent
    if not _inside_package(folder):
        settings.setValue("dialogs/last_folder", str(folder.resolve()))


def recent_list(settings: QSettings | None, key: str) -> list[str]:
    """The recent paths under ``key`` (``"recent/paths"``, ``"recent/sessions"``), newest first."""
    if settings is None:
        return []
    value = settings.value(key, [])
    if isinstance(value, str):
        value = [value]
    return [str(v) for v in (value or [])]


def add_recent(settings: QSettings | None, key: str, path: str | os.PathLike) -> None:
    """Put ``path`` first in the recent list ``key`` (at most :data:`MAX_RECENT`)."""
    if settings is None:
        return
    p = str(Path(path).resolve())
    paths = [p] + [q for q in recent_list(settings, key) if q != p]
    settings.setValue(key, paths[:MAX_RECENT])


def window_settings(widget: QWidget) -> QSettings | None:
    """The settings of the main window ``widget`` lives in (its ``settings`` attribute), if any."""
    settings = getattr(widget.window(), "settings", None)
    return settings if isinstance(settings, QSettings) else None
