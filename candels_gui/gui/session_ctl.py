"""The curation session in the app: undo / redo, the queue's edits, save / open, autosave and recovery.

:class:`SessionController` owns the core :class:`~candels_gui.core.curation.session.Session` and keeps it and the
:class:`~.state.AppState` in step: every *final* spec change of the editor (end of a companion drag, a
spin-box commit, a random pair) becomes one undoable command, and undo / redo put the session's spec
back into the editor. The session writes its autosave after every change (core); the controller offers
recovery when data is opened and asks Save / Discard / Cancel when the window closes with unsaved work.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Sequence

from PyQt6.QtCore import QObject, QTimer, pyqtSignal
from PyQt6.QtGui import QAction
from PyQt6.QtWidgets import (QAbstractItemDelegate, QAbstractItemView, QAbstractSpinBox, QApplication,
                             QLineEdit, QMessageBox)

from ..core.blending.engine import BlendSpec
from ..core.data.catalog import CatalogFilter
from ..core.errors import DataError
from ..core.curation.queue_item import QueueItem
from ..core.curation.session import Session, SessionChange, default_autosave_dir
from ..core.curation.undo import touched_rows
from ..core.display.stretch import DisplaySettings
from .display_model import DisplayModel
from .services import WindowServices
from .session_io import SESSION_FILTER, SessionFiles
from .state import AppState

__all__ = ["SessionController", "SESSION_FILTER"]

#: Queue sizes drawn on the UI thread; larger batches are drawn in a worker.
SYNC_BATCH = 100
#: Seconds between two autosaves while edits come quickly (a drag writes the session once per interval).
AUTOSAVE_INTERVAL_S = 0.5


class SessionController(SessionFiles, QObject):
    """Binds a core Session to the app's state and display.

    Parameters
    ----------
    state, display : AppState, DisplayModel
        The editor's blend, rules and filter, and the display settings, which the session stores.
    services : WindowServices
        Dialog parent, task runner, error and status messages, the open data's path, opening data.
    autosave_dir : path, optional
        Where autosaves are written (default: the user's data folder).

    Signals
    -------
    changed(object)
        A :class:`~candels_gui.core.curation.session.SessionChange` (after an edit, undo or redo).
    replaced()
        A different Session object is in use (new data, opened or recovered session).
    itemLoaded(int)
        Queued blend ``index`` is now in the editor.
    settingsApplied()
        A session's sampling rules, seed and filter were put into the app state.
    placeChanged(object)
        The user's place in the queue moved: the list of rows to select (the first is the current one;
        empty: the editor's blend is not a queued one).
    """

    changed = pyqtSignal(object)
    replaced = pyqtSignal()
    itemLoaded = pyqtSignal(int)
    settingsApplied = pyqtSignal()
    placeChanged = pyqtSignal(object)

    def __init__(self, state: AppState, display: DisplayModel, services: WindowServices, *,
                 autosave_dir: str | os.PathLike | None = None) -> None:
        super().__init__(services.parent)
        self.services = services
        self.state = state
        self.display = display
        self.autosave_dir = Path(autosave_dir) if autosave_dir is not None else default_autosave_dir()
        self.recover_on_load = False
        self.session = Session(seed=self.state.seed)
        self.session.listeners.append(self._session_changed)
        self.session.autosave_interval = AUTOSAVE_INTERVAL_S
        # autosaves at most every AUTOSAVE_INTERVAL_S while edits come quickly (a drag), the last one by this timer
        self._autosave_timer = QTimer(self)
        self._autosave_timer.setInterval(int(AUTOSAVE_INTERVAL_S * 1000))
        self._autosave_timer.timeout.connect(lambda: self.session.flush_autosave())
        self._autosave_timer.start()
        self._applying = False
        self._pending: Session | None = None
        self._pending_recovered = False  # the pending session is a recovered autosave (no second offer)
        self._offered: set[Path] = set()  # autosaves already offered in this run
        self._just_queued: int | None = None  # the row Enter just added (edits make a new blend, not change it)
        self._actions: dict[str, QAction] = {}
        self.generating = False
        self.state.specChanged.connect(self._spec_changed)
        self.state.stampsChanged.connect(self._stamps_changed)

    # ------------------------------------------------------------------ session objects
    def new_session(self, specs: Sequence[BlendSpec] = ()) -> Session:
        """A fresh session on the open data (the editor's blend is its starting point). ``specs`` start its
        queue as pending blends: the data's own (an opened export's), not an edit -- nothing to undo or save."""
        stamps = self.state.stamps
        session = Session(data_path=self.services.source_path(),
                          data_hash=stamps.content_hash() if stamps is not None else None,
                          seed=self.state.seed, rules=self.state.rules, catalog_filter=self.state.filter,
                          current=self.state.spec, autosave_dir=self.autosave_dir)
        if specs:
            session.queue = [QueueItem(spec) for spec in specs]
            session.mark_saved()
        self._use(session)
        return session

    def start_queue(self, specs: Sequence[BlendSpec]) -> bool:
        """After new data is set: a fresh session whose queue holds ``specs`` (pending, in order), the first
        one in the editor. False, and nothing done, when a session being opened waits for this data (its
        own queue comes with it)."""
        if self._pending is not None or self.state.stamps is None:
            return False
        self.new_session(specs)
        if specs:
            self.load_item(0)
            self.placeChanged.emit([0])
        return True

    def apply_session(self, session: Session) -> str:
        """Use ``session`` (its data must be open): settings, editor blend and queue follow it. Returns what to
        add to "Opened session …" ('' or where its moved data now lies)."""
        note = ""
        if self.state.stamps is not None:
            session.check_data(self.state.stamps)
        session.autosave_dir = self.autosave_dir
        here = Path(self.services.source_path()).resolve() if self.services.source_path() is not None else None
        moved = (here is not None and session.data_path is not None and Path(session.data_path) != here
                 and not Path(session.data_path).exists())
        if moved:   # its data moved (checked above: the same content): the open data is where it is now
            old = session.data_path
            session.relocate_data(here)
            note = f"; its data moved from {old} to {here}: save the session to record it"
        elif session.data_path is None and here is not None:
            session.data_path = here
        st = self.state
        st.rules, st.seed = session.rules, session.seed
        try:
            st.set_filter(session.filter)
        except (DataError, ValueError) as exc:
            self.services.show_error("The session's catalog filter does not fit the data", exc)
        self._apply_display(session.display)
        self.settingsApplied.emit()
        self._use(session)
        if session.current is not None:
            self._show_spec(session.current)
        else:
            session._current = st.spec
        return note

    def open_applied(self, session: Session) -> bool:
        """Apply an opened session (its data is open) and say so; False, on a fresh session, when it does not
        fit the data."""
        try:
            note = self.apply_session(session)
        except DataError as exc:
            self.new_session()
            self.services.show_error("Cannot open the session", exc)
            return False
        self.services.status(f"Opened session {session.path}{note}", 10000 if note else 6000)
        self.offer_recovery()
        return True

    def _use(self, session: Session) -> None:
        discarded, self._discarded = getattr(self, "_discarded", None), None
        if discarded is not None and discarded is not session:
            discarded.remove_autosave()     # discarded when other data was asked for, which has now opened
        if self.session is not session:
            self.session.listeners = [f for f in self.session.listeners if f != self._session_changed]
            session.listeners.append(self._session_changed)
        session.autosave_interval = AUTOSAVE_INTERVAL_S
        self.session = session
        self._just_queued = None
        self.replaced.emit()
        self._update_actions()

    # ------------------------------------------------------------------ data and editor
    def _stamps_changed(self) -> None:
        if self._pending is not None:  # an opened session waits for its data: apply after set_stamps
            QTimer.singleShot(0, self._apply_pending)
            return
        self.new_session()
        if self.recover_on_load:
            QTimer.singleShot(0, self.offer_recovery)

    def _apply_pending(self) -> None:
        session, self._pending = self._pending, None
        if session is None or self.state.stamps is None:
            return
        if self._pending_recovered:
            self._pending_recovered = False
            self.use_recovered(session)
            return
        self.open_applied(session)

    def _spec_changed(self, spec: BlendSpec | None, final: bool) -> None:
        if not final or self._applying or spec is None or self._pending is not None:
            return
        session = self.session
        if session.current is None:  # the first pair of new data is the starting point, not an edit
            session._current = spec
            return
        if spec == session.current:
            return
        self._sync_settings()
        item = session.current_item
        if item is not None and (item == self._just_queued or (session.queue[item].spec.id1,
                                                               session.queue[item].spec.id2) != (spec.id1, spec.id2)):
            # another pair, or an edit after Enter (a variant of the blend just queued): the queued blend
            # is left alone and the editor's blend is a new one
            session.current_item = item = None  # another pair: the queued blend is left alone
            self.placeChanged.emit([])
        session.set_current(spec, item=item)

    def _show_spec(self, spec: BlendSpec | None) -> None:
        if spec is None or spec == self.state.spec:
            return
        self._applying = True
        try:
            self.state.set_spec(spec)
        finally:
            self._applying = False

    def _session_changed(self, change: SessionChange) -> None:
        if change.current:
            self._show_spec(self.session.current)
        self.changed.emit(change)
        self._update_actions()

    def _sync_settings(self) -> None:
        s, st = self.session, self.state
        if st.seed != s.seed:
            s.seed, s.random_index = st.seed, 0
        s.rules, s.filter = st.rules, st.filter if isinstance(st.filter, CatalogFilter) else s.filter
        d = self.display
        s.display = {"settings": d.settings.to_dict(), "mask_visible": d.mask_visible,
                     "mask_opacity": d.mask_opacity, "mask_outline": d.mask_outline, "fill_visible": d.fill_visible}

    def _apply_display(self, display: dict) -> None:
        if not display:
            return
        d = self.display
        try:
            if "settings" in display:
                settings = DisplaySettings.from_dict(display["settings"])
                d.set(**{k: getattr(settings, k) for k in settings.__dataclass_fields__})
            d.set_overlay(visible=display.get("mask_visible"), opacity=display.get("mask_opacity"),
                          outline=display.get("mask_outline"), fill=display.get("fill_visible"))
        except (ValueError, TypeError) as exc:
            self.services.status(f"Display settings of the session ignored: {exc}", 8000)

    # ------------------------------------------------------------------ queue edits (action slots)
    def add_current(self) -> None:
        """Queue the blend in the editor (Enter); Enter in a text field still commits that field."""
        focus = QApplication.focusWidget()
        spin = focus if isinstance(focus, QAbstractSpinBox) else (
            focus.parent() if focus is not None and isinstance(focus.parent(), QAbstractSpinBox) else None)
        if spin is not None:  # Enter in a spin box commits its value and gives the keys back to the views
            spin.interpretText()
            self.services.focus_views()
            return
        if isinstance(focus, QLineEdit):  # a text field (search, note being edited) gets its Enter
            view = focus.parent()
            while view is not None and not isinstance(view, QAbstractItemView):
                view = view.parent()
            if view is not None:  # a cell editor: commit and close it, as Enter does
                delegate = view.itemDelegate()
                delegate.commitData.emit(focus)
                delegate.closeEditor.emit(focus, QAbstractItemDelegate.EndEditHint.NoHint)
            else:
                focus.returnPressed.emit()
                focus.editingFinished.emit()
                self.services.focus_views()  # a field's Enter hands the keys back to the views
            return
        if self.state.spec is None:
            self.services.status("No blend to add: pick two galaxies or a random pair", 4000)
            return
        existing = self.session.find_spec(self.state.spec)
        if existing is not None:
            answer = QMessageBox.question(
                self.services.parent, "Blend already queued",
                f"This blend (same pair, offset, rotation, flip and flux) is already queued as blend "
                f"{existing + 1}. Add it again?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
            if answer != QMessageBox.StandardButton.Yes:
                self.session.current_item = existing
                self.placeChanged.emit([existing])
                self.services.status(f"Already queued as blend {existing + 1}: not added again", 4000)
                return
        self._sync_settings()
        self.session._current = self.state.spec
        self.session.current_item = None
        index = self.session.add_current()
        self.session.current_item = self._just_queued = index  # A / R / F decide the blend just queued
        self.placeChanged.emit([index])
        self.services.status(f"Added blend {index + 1} to the queue (A accept · R reject · F flag)", 3000)

    def set_status(self, rows: Iterable[int], status: str) -> None:
        """Give queued blends ``rows`` a status (one undoable command)."""
        rows = list(rows)
        if rows:
            self._sync_settings()
            self.session.set_status(rows, status)

    def set_note(self, row: int, note: str) -> None:
        """Set the note of queued blend ``row``."""
        self._sync_settings()
        self.session.set_note(row, note)

    def remove(self, rows: Iterable[int]) -> None:
        """Remove queued blends."""
        self._sync_settings()
        self.session.remove(rows)

    def load_item(self, row: int) -> None:
        """Show queued blend ``row`` in the editor (selection, not an edit)."""
        if not 0 <= row < len(self.session.queue) or self._pending is not None:
            return
        spec = self.session.load_item(row)
        self._just_queued = None  # a blend picked in the queue is edited in place
        self._show_spec(spec)
        self.itemLoaded.emit(row)

    def generate_random(self, n: int) -> None:
        """Queue ``n`` random blends with the sampling rules (a worker draws large batches)."""
        stamps = self.state.stamps
        if stamps is None or self.generating:
            return
        self._sync_settings()
        session, pool = self.session, self.state.pool()
        if n <= SYNC_BATCH:
            try:
                session.add_random(stamps, n, pool=pool)
            except (DataError, ValueError) as exc:
                self.services.show_error("Cannot draw random blends", exc)
            return

        def done(specs: list[BlendSpec]) -> None:
            self.generating = False
            if self.session is session:
                session.add_random_specs(specs)
                self.services.status(f"Queued {len(specs):,} random blends", 4000)

        def failed(exc: BaseException) -> None:
            self.generating = False
            self.services.show_error("Cannot draw random blends", exc)

        def cancelled() -> None:
            self.generating = False
            self.services.status("Drawing random blends cancelled", 4000)

        self.generating = True
        self.services.tasks.run_job(f"Drawing {n:,} random blends",
                                    lambda token: session.iter_random_specs(stamps, n, pool=pool, cancel=token),
                                    on_result=done, on_error=failed, on_cancel=cancelled)

    # ------------------------------------------------------------------ undo / redo
    def undo(self) -> None:
        """Undo the last edit (Ctrl+Z); the queue selection moves to the blends it changed."""
        if not self.session.can_undo:
            self.services.status("Nothing to undo", 3000)
            return
        label = self.session.undo()
        self._land_after_undo()
        self.services.status(f"Undid: {label}", 3000)

    def redo(self) -> None:
        """Redo the last undone edit (Ctrl+Shift+Z); the queue selection moves to the blends it changed."""
        if not self.session.can_redo:
            self.services.status("Nothing to redo", 3000)
            return
        label = self.session.redo()
        self._land_after_undo()
        self.services.status(f"Redid: {label}", 3000)

    def _land_after_undo(self) -> None:
        moved = self.session.stack.last_moved
        if moved is None:
            return
        rows = touched_rows(moved[0], undone=moved[1], queue_length=len(self.session.queue))
        self._just_queued = None
        if rows:
            self.session.current_item = rows[0]
            self._show_spec(self.session.queue[rows[0]].spec)
        self.placeChanged.emit(rows)

    def bind_actions(self, actions: dict[str, QAction]) -> None:
        """Keep the Undo / Redo menu texts ("Undo Accept blend 12") and enabled states current."""
        self._actions = actions
        self._update_actions()

    def _update_actions(self) -> None:
        s = self.session
        for name, verb, label, _ok in (("undo", "&Undo", s.undo_label, s.can_undo),
                                      ("redo", "&Redo", s.redo_label, s.can_redo)):
            act = self._actions.get(name)
            if act is not None:  # stays enabled: Ctrl+Z with nothing to undo says so in the status bar
                act.setText(f"{verb} {label}" if label else verb)
        save = self._actions.get("save_session")
        if save is not None:
            save.setEnabled(True)

    def selected_or_current(self, rows: list[int]) -> list[int]:
        """``rows``, or the queued blend in the editor when no row is selected."""
        if rows:
            return rows
        return [self.session.current_item] if self.session.current_item is not None else []
