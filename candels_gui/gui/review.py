"""Review mode: go through the queue with the arrow keys and decide each blend with A / R / F.

Deciding (accept, reject, flag) works on the selected queue rows at any time; in review mode it works
on the row in the editor and then moves to the next row, so a queue is triaged with one key per blend.
Review mode hides the catalog and gives the queue the left side of the window.
"""

from __future__ import annotations

from PyQt6.QtCore import QObject, pyqtSignal
from PyQt6.QtGui import QAction
from PyQt6.QtWidgets import QDockWidget

from .queue_panel import QueuePanel
from .services import WindowServices
from .session_ctl import SessionController

__all__ = ["ReviewMode", "NAV_ACTIONS"]

#: Actions that only work in review mode (plain arrows stay with the widgets otherwise).
NAV_ACTIONS = ("review_next", "review_previous")


class ReviewMode(QObject):
    """Review mode of a main window (slots of the action table: ``review.*``).

    Parameters
    ----------
    panel, ctl : QueuePanel, SessionController
        The queue it walks and the session it decides in.
    catalog_dock, queue_dock : QDockWidget
        Review mode hides the first and raises the second.
    services : WindowServices
        Status-bar messages.

    Signals
    -------
    toggled(bool)
        Review mode was switched on or off.
    """

    toggled = pyqtSignal(bool)

    def __init__(self, panel: QueuePanel, ctl: SessionController, *, catalog_dock: QDockWidget,
                 queue_dock: QDockWidget, services: WindowServices) -> None:
        super().__init__(services.parent)
        self.panel, self.ctl, self.services = panel, ctl, services
        self.catalog_dock, self.queue_dock = catalog_dock, queue_dock
        self.active = False
        self._catalog_was_visible = True
        self._actions: dict[str, QAction] = {}

    def bind_actions(self, actions: dict[str, QAction]) -> None:
        """The window's actions: review mode enables its navigation keys and keeps its checkbox in step."""
        self._actions = actions

    # ------------------------------------------------------------------ mode
    def set_active(self, on: bool) -> None:
        """Switch review mode on or off (the checkable action's slot)."""
        on = bool(on)
        actions = self._actions
        for name in NAV_ACTIONS:
            if name in actions:
                actions[name].setEnabled(on)
        if "review_mode" in actions and actions["review_mode"].isChecked() != on:
            actions["review_mode"].blockSignals(True)
            actions["review_mode"].setChecked(on)
            actions["review_mode"].blockSignals(False)
        if on == self.active:
            return
        self.active = on
        if on:
            self._catalog_was_visible = self.catalog_dock.isVisible()
            self.catalog_dock.hide()
            self.queue_dock.show()
            self.queue_dock.raise_()
            self.panel.banner.show()
            self.panel.table.setFocus()
            row = self.panel.current_row()
            pending = self._pending_rows()
            if self.panel.model.rowCount() and (row is None or (pending and row == len(self.ctl.session.queue) - 1
                                                                and row != pending[0])):
                # none selected, or the row queued last (selected by the queueing): start where review starts
                self.panel.select_row(pending[0] if pending else 0)
            self.services.status("Review mode: ↑/↓ move, A accept, R reject, F flag", 5000)
        else:
            if self._catalog_was_visible:
                self.catalog_dock.show()
            self.panel.banner.hide()
        self.toggled.emit(on)

    def toggle(self) -> None:
        """Switch review mode."""
        self.set_active(not self.active)

    # ------------------------------------------------------------------ navigation
    def next(self) -> None:
        """Move to the next queued blend."""
        self._move(+1)

    def previous(self) -> None:
        """Move to the previous queued blend."""
        self._move(-1)

    def _move(self, step: int) -> None:
        n = self.panel.model.rowCount()
        if not n:
            return
        row = self.panel.current_row()
        if row is None:
            row = self.ctl.session.current_item
        target = 0 if row is None else min(max(row + step, 0), n - 1)
        self.panel.select_row(target)

    # ------------------------------------------------------------------ decisions
    def accept(self) -> None:
        """Accept the selected blends (A)."""
        self.decide("accepted")

    def reject(self) -> None:
        """Reject the selected blends (R)."""
        self.decide("rejected")

    def flag(self) -> None:
        """Flag the selected blends for a second look (F)."""
        self.decide("flagged")

    def reset(self) -> None:
        """Set the selected blends back to pending."""
        self.decide("pending")

    def remove(self) -> None:
        """Remove the selected blends from the queue."""
        rows = self._targets()
        if rows:
            self.ctl.remove(rows)
        else:
            self.services.status("Nothing to remove: select queued blends first", 4000)

    def decide(self, status: str) -> None:
        """Give the target rows ``status``; in review mode, then move to the next blend."""
        rows = self._targets()
        if not rows:
            self.services.status(
                "No queued blend selected: press Enter to queue the current blend, or pick a row", 4000)
            return
        self.ctl.set_status(rows, status)
        if not self.active:
            return
        if rows[-1] + 1 < self.panel.model.rowCount():
            self.panel.select_row(rows[-1] + 1)
        else:   # the end of the queue: on to the first blend still pending (the next key decided this row again)
            pending = self._pending_rows()
            if pending:
                self.panel.select_row(pending[0])
                self.services.status(f"That was the last blend of the queue: back to the first still pending "
                                     f"(row {pending[0] + 1}; {len(pending):,} pending)", 6000)
            else:
                self.services.status("That was the last blend of the queue, and none is pending: all reviewed",
                                     6000)

    def _pending_rows(self) -> list[int]:
        return [i for i, item in enumerate(self.ctl.session.queue) if item.status == "pending"]

    def _targets(self) -> list[int]:
        if self.active:
            row = self.panel.current_row()
            if row is None:
                row = self.ctl.session.current_item
            return [] if row is None else [row]
        return self.ctl.selected_or_current(self.panel.selected_rows())
