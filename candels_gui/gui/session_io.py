"""Session files in the app: save / open (dialogs start where the user was), recent sessions, and
recovery of the work a crash left behind — offered at start-up, whatever data the app opened.

:class:`SessionFiles` is a mixin of :class:`~.session_ctl.SessionController`: it uses the controller's
``session``, ``state``, ``services``, ``autosave_dir`` and ``apply_session``.
"""

from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path
from typing import Any

from PyQt6.QtWidgets import QFileDialog, QMessageBox

from ..core.curation.session import (AutosaveInfo, Session, SessionChange, find_autosave,
                                     list_recoverable)
from ..core.curation.session_files import work_in_words
from ..core.errors import DataError, OutputError, UnsafePathError
from ..core.validate import check_output
from .places import add_recent, remember_folder, start_folder

__all__ = ["SessionFiles", "SESSION_FILTER", "RECENT_SESSIONS"]

#: File-dialog filter of session files.
SESSION_FILTER = "candels-gui sessions (*.json);;All files (*)"
#: QSettings key of the recent session files.
RECENT_SESSIONS = "recent/sessions"
Btn = QMessageBox.StandardButton


class SessionFiles:
    """Save, open and recover sessions (mixed into the session controller)."""

    session: Session
    state: Any
    services: Any
    autosave_dir: Path
    _pending: Session | None
    _pending_recovered: bool
    _offered: set[Path]

    # ------------------------------------------------------------------ save
    def save(self) -> bool:
        """Save to the session's file (asks for one the first time); True when saved."""
        if self.session.path is None:
            return self.save_as()
        return self._save_to(self.session.path)

    def save_as(self, path: str | os.PathLike | None = None) -> bool:
        """Save to ``path`` (asks with a file dialog when not given); True when saved."""
        if path is None:
            settings = self.services.settings
            folder = start_folder(settings, self.session.path, self.services.source_path())
            name = self.session.path.name if self.session.path else "session.json"
            path, _ = QFileDialog.getSaveFileName(self.services.parent, "Save session", str(folder / name),
                                                  SESSION_FILTER)
            if not path:
                return False
            if not Path(path).suffix:   # typed without one: the Open dialog lists *.json only
                path = f"{path}.json"
        return self._save_to(Path(path))

    def _save_to(self, path: Path) -> bool:
        self._sync_settings()  # type: ignore[attr-defined]
        if self.session.data_path is None and self.services.source_path() is not None:
            self.session.data_path = Path(self.services.source_path()).resolve()
        try:
            check_output(path, "session file", kind="file")   # a read-only place named, not a temporary file
            saved = self.session.save(path)
        except (OSError, OutputError) as exc:
            self.services.show_error("Cannot save the session", exc)
            return False
        remember_folder(self.services.settings, saved)
        add_recent(self.services.settings, RECENT_SESSIONS, saved)
        self.services.status(f"Session saved to {saved}", 5000)
        self.changed.emit(SessionChange())  # type: ignore[attr-defined]
        return True

    # ------------------------------------------------------------------ open
    def open_dialog(self) -> None:
        """File > Open session…"""
        folder = start_folder(self.services.settings, self.session.path)
        path, _ = QFileDialog.getOpenFileName(self.services.parent, "Open session", str(folder), SESSION_FILTER)
        if path and self.confirm_discard("Open session", until_replaced=True):
            self.open_session(path)

    def open_session(self, path: str | os.PathLike, *, fallback_data: str | os.PathLike | None = None) -> bool:
        """Open a session file; its data is opened first when it is not the data in the window.

        Returns True when the session is in use now, False when it waits for its data (or failed).
        """
        try:
            session = Session.load(path, autosave_dir=self.autosave_dir)
        except (DataError, OSError) as exc:
            self._offer_data_alone(path, exc, fallback_data)
            return False
        remember_folder(self.services.settings, Path(path))
        add_recent(self.services.settings, RECENT_SESSIONS, Path(path))
        stamps = self.state.stamps
        if stamps is not None and (not session.data_hash or stamps.content_hash() == session.data_hash):
            return self.open_applied(session)  # type: ignore[attr-defined]
        try:
            recorded = session.data_path_to_open()
        except UnsafePathError:  # a path read from a file leaves its folder: the user decides
            answer = QMessageBox.question(
                self.services.parent, "Open data outside the session's folder?",
                f"The session {session.path.name} names its data as\n{session.data_path}\n"
                f"which lies outside the session's folder {session.path.parent}.\n\nOpen that data?",
                Btn.Yes | Btn.No, Btn.No)
            recorded = session.data_path if answer == Btn.Yes else None
            if recorded is None and fallback_data is None:
                return False
        data = recorded if recorded is not None and recorded.exists() \
            else (Path(fallback_data) if fallback_data is not None else None)
        if data is None and stamps is not None:  # the open data is not the session's: say which
            try:
                session.check_data(stamps)
            except DataError as exc:
                self.services.show_error("Cannot open the session", exc)
            return False
        if data is None:
            self.services.show_error("Cannot open the session", DataError(
                f"{session.path}: its data {session.data_path or '(no path recorded)'} was not found; "
                "open that data first, then the session"))
            return False
        self._pending, self._pending_recovered = session, False
        self.services.open_path(data)
        return False

    def data_load_failed(self) -> None:
        """The data a session waits for did not load (cancelled, or refused): that session is not opened (it
        would otherwise be applied to whatever data opens next, and the editor would wait for it meanwhile).
        The session discarded for that data stays, autosave included."""
        self._discarded = None
        if self._pending is None:
            return
        name = self._pending.path.name if self._pending.path is not None else "The session"
        self._pending, self._pending_recovered = None, False
        self.services.status(f"{name} was not opened: its data did not load", 8000)

    def _offer_data_alone(self, path: str | os.PathLike, exc: BaseException,
                          fallback_data: str | os.PathLike | None) -> None:
        """A session that cannot be opened: say why, and offer to open its data (or ``fallback_data``)
        without it, when a data path can be read from the damaged file and exists there."""
        data = Session.peek_data_path(path)
        if data is None or not data.exists():
            data = None
            if fallback_data is not None:  # data the user named with the session: opened, no question
                self.services.show_error("Cannot open the session", exc)
                self._pending = None
                self.services.open_path(Path(fallback_data))
                return
        if data is None or self.state.stamps is not None and self.services.source_path() is not None \
                and Path(self.services.source_path()).resolve() == data.resolve():
            self.services.show_error("Cannot open the session", exc)
            return
        answer = QMessageBox.question(
            self.services.parent, "Cannot open the session",
            f"{exc if isinstance(exc, (DataError, OSError)) else type(exc).__name__}\n\n"
            f"Open its data without the session?\n{data}",
            Btn.Yes | Btn.No, Btn.Yes)
        if answer == Btn.Yes:
            self._pending = None
            self.services.open_path(data)

    # ------------------------------------------------------------------ recovery
    def offer_recovery(self) -> bool:
        """Offer the autosave of the session in use, left by a crash; True when it was recovered."""
        s = self.session
        found = find_autosave(session_path=s.path, data_hash=None if s.path else s.data_hash,
                              directory=self.autosave_dir)
        if found is None or found in self._offered:
            return False
        info = next((a for a in list_recoverable(self.autosave_dir) if a.path == found), None)
        return self._offer(info) if info is not None else False

    def offer_startup_recovery(self) -> bool:
        """At start-up: offer the newest work a crash left (any session, any data); True when taken.

        Its data is opened when it is not the data the window has (or is loading).
        """
        found = [a for a in list_recoverable(self.autosave_dir) if a.path not in self._offered]
        if not found:
            return False
        return self._offer(found[0], others=len(found) - 1)

    def _offer(self, info: AutosaveInfo, *, others: int = 0) -> bool:
        self._offered.add(info.path)
        when = _dt.datetime.fromtimestamp(info.mtime).strftime("%Y-%m-%d %H:%M")
        what = f"session {info.session_path}" if info.session_path else "an unsaved session"
        data = f" on {info.data_path}" if info.data_path else ""
        more = f"\n\n({others} older autosave{'s' if others > 1 else ''} will be offered next time.)" \
            if others else ""
        answer = QMessageBox.question(
            self.services.parent, "Recover unsaved work?",
            f"candels-gui did not close cleanly. It kept {info.describe()} of {what}{data}, autosaved {when}.\n\n"
            f"Recover them? (Discard deletes the autosave; Ignore keeps it for later.){more}",
            Btn.Yes | Btn.Discard | Btn.Ignore, Btn.Yes)
        if answer in (Btn.Discard, Btn.No):
            info.path.unlink(missing_ok=True)
            return False
        if answer != Btn.Yes:
            return False
        try:
            recovered = Session.recover(info.path, autosave_dir=self.autosave_dir)
        except (DataError, OSError, ValueError) as exc:
            self.services.show_error("Cannot recover the session", exc)
            return False
        stamps = self.state.stamps
        if stamps is not None and (not recovered.data_hash or stamps.content_hash() == recovered.data_hash):
            return self.use_recovered(recovered)
        if recovered.data_path is None or not recovered.data_path.exists():
            self.services.show_error("Cannot recover the session", DataError(
                f"{info.path}: its data {recovered.data_path or '(no path recorded)'} was not found; open "
                "that data, then File > Open session (the autosave is kept)"))
            return False
        self._pending, self._pending_recovered = recovered, True  # applied once its data is loaded
        self.services.open_path(recovered.data_path)  # (a load in flight is cancelled)
        self.services.status(f"Opening {recovered.data_path.name} to recover the session…", 6000)
        return True

    def use_recovered(self, recovered: Session) -> bool:
        """Put a recovered session in use (its data is open); True when done."""
        try:
            self.apply_session(recovered)  # type: ignore[attr-defined]
        except (DataError, OSError, ValueError) as exc:
            self.services.show_error("Cannot recover the session", exc)
            return False
        recovered.write_autosave()
        self.services.status(f"Recovered {work_in_words(len(recovered.queue), len(recovered.morph_votes))}", 6000)
        return True

    # ------------------------------------------------------------------ closing
    def confirm_discard(self, title: str = "Close", *, until_replaced: bool = False) -> bool:
        """Ask Save / Discard / Cancel when the queue has unsaved changes; True to go on.

        ``until_replaced``: the session is discarded only once another replaces it (data being opened: if
        that fails, the session stays on screen, and so must its autosave, its crash copy)."""
        if not self.session.modified:
            self.session.remove_autosave()
            return True
        work = work_in_words(len(self.session.queue), len(self.session.morph_votes))
        answer = QMessageBox.question(
            self.services.parent, title, f"The session has unsaved changes ({work}). Save them?",
            Btn.Save | Btn.Discard | Btn.Cancel, Btn.Save)
        if answer == Btn.Save:
            return self.save()
        if answer == Btn.Discard:
            if until_replaced:
                self._discarded = self.session
            else:
                self.session.remove_autosave()
            return True
        return False
