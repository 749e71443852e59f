"""Review mode: go through the queue with the arrow keys and decide each blend with A / R / F.

Deciding (accept, reject, flag) works on the selected queue rows at any time; in review mode it works
on the row in the editor and then moves to the next row, so a queue is triaged with one key per blend.
Review mode hides the catalog and gives the queue the left side of the window.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PyQt6.QtCore import QObject, pyqtSignal

if TYPE_CHECKING:  # pragma: no cover
    from .app import MainWindow

__all__ = ["ReviewMode", "NAV_ACTIONS"]

#: Actions that only work in review mode (plain arrows stay with the widgets otherwise).
NAV_ACTIONS = ("review_next", "review_previous")


class ReviewMode(QObject):
    """Review mode of a main window (slots of the action table: ``review.*``).

    Signals
    -------
    toggled(bool)
        Review mode was switched on or off.
    """

    toggled = pyqtSignal(bool)

    def __init__(self, window: "MainWindow") -> None:
        super().__init__(window)
        self.window = window
        self.active = False
        self._catalog_was_visible = True

    @property
    def panel(self):
        return self.window.queue_panel

    @property
    def ctl(self):
        return self.window.session_ctl

    # ------------------------------------------------------------------ mode
    def set_active(self, on: bool) -> None:
        """Switch review mode on or off (the checkable action's slot)."""
        on = bool(on)
        actions = getattr(self.window, "actions_by_name", {})
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
        w = self.window
        if on:
            self._catalog_was_visible = w.catalog_dock.isVisible()
            w.catalog_dock.hide()
            w.queue_dock.show()
            w.queue_dock.raise_()
            self.panel.banner.show()
            self.panel.table.setFocus()
            if self.panel.current_row() is None and self.panel.model.rowCount():
                pending = [i for i, item in enumerate(self.ctl.session.queue) if item.status == "pending"]
                self.panel.select_row(pending[0] if pending else 0)
            w.statusBar().showMessage("Review mode: ↑/↓ move, A accept, R reject, F flag", 5000)
        else:
            if self._catalog_was_visible:
                w.catalog_dock.show()
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

    def decide(self, status: str) -> None:
        """Give the target rows ``status``; in review mode, then move to the next blend."""
        rows = self._targets()
        if not rows:
            self.window.statusBar().showMessage(
                "No queued blend selected: press Enter to queue the current blend, or pick a row", 4000)
            return
        self.ctl.set_status(rows, status)
        if self.active and rows[-1] + 1 < self.panel.model.rowCount():
            self.panel.select_row(rows[-1] + 1)

    def _targets(self) -> list[int]:
        if self.active:
            row = self.panel.current_row()
            if row is None:
                row = self.ctl.session.current_item
            return [] if row is None else [row]
        return self.ctl.selected_or_current(self.panel.selected_rows())
