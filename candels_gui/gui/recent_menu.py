"""The File > Open recent menu of the main window: recent data paths and session files (kept in the settings)."""

from __future__ import annotations

import os
from pathlib import Path

from .places import add_recent, recent_list
from .session_io import RECENT_SESSIONS

__all__ = ["RecentFilesMixin"]


class RecentFilesMixin:
    """Recent data paths and sessions of a main window that has ``settings``, ``recent_menu``, ``session_ctl``
    and ``open_path``."""

    def recent_paths(self) -> list[str]:
        """Recently opened data paths, newest first."""
        return recent_list(self.settings, "recent/paths")

    def recent_sessions(self) -> list[str]:
        """Recently saved or opened session files, newest first."""
        return recent_list(self.settings, RECENT_SESSIONS)

    def add_recent(self, path: str | os.PathLike) -> None:
        """Put ``path`` first in the recent data list (at most :data:`MAX_RECENT`)."""
        add_recent(self.settings, "recent/paths", path)

    def _open_recent_session(self, path: str) -> None:
        if self.session_ctl.confirm_discard("Open session", until_replaced=True):
            self.session_ctl.open_session(path)

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        sessions, paths = self.recent_sessions(), self.recent_paths()
        for title, items, slot in (("Sessions", sessions, self._open_recent_session),
                                   ("Data", paths, self.open_path)):
            self.recent_menu.addSection(title)
            for p in items:
                act = self.recent_menu.addAction(p)
                act.setEnabled(Path(p).exists())
                act.triggered.connect(lambda _=False, p=p, slot=slot: slot(p))
            if not items:
                self.recent_menu.addAction("(none)").setEnabled(False)
        if sessions or paths:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear lists", self._clear_recent)

    def _clear_recent(self) -> None:
        self.settings.setValue("recent/paths", [])
        self.settings.setValue(RECENT_SESSIONS, [])
