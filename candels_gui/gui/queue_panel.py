"""The queue of blends being curated: a table (status colours, editable notes), counts, random batches."""

from __future__ import annotations

from typing import Any

from PyQt6.QtCore import QAbstractTableModel, QModelIndex, QItemSelectionModel, Qt
from PyQt6.QtGui import QBrush, QColor
from PyQt6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QPushButton, QSpinBox,
                             QTableView, QVBoxLayout, QWidget)

from ..core.curation.session import STATUSES, SessionChange
from .session_ctl import SessionController

__all__ = ["QueueModel", "QueuePanel", "STATUS_COLORS"]

#: Colour of each status (text of the status cell, tint of the row).
STATUS_COLORS = {"pending": (160, 168, 180), "accepted": (80, 200, 120), "rejected": (235, 90, 90),
                 "flagged": (240, 180, 60)}


class QueueModel(QAbstractTableModel):
    """Rows of the session's queue (virtual: reads the core items on demand)."""

    COLUMNS = ("#", "Galaxy 1", "Galaxy 2", "Sep (px)", "Δmag", "Status", "Note")
    NOTE = 6
    STATUS = 5

    def __init__(self, ctl: SessionController, parent: Any = None) -> None:
        super().__init__(parent)
        self.ctl = ctl
        self._mags: dict[int, float] = {}
        ctl.changed.connect(self._changed)
        ctl.replaced.connect(self._reset)
        ctl.state.stampsChanged.connect(self._reset)

    # ------------------------------------------------------------------ Qt model
    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.ctl.session.queue)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.COLUMNS[section]
        return None

    def flags(self, index: QModelIndex) -> Qt.ItemFlag:
        base = super().flags(index)
        return base | Qt.ItemFlag.ItemIsEditable if index.column() == self.NOTE else base

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        queue = self.ctl.session.queue
        if not index.isValid() or index.row() >= len(queue):
            return None
        item, col = queue[index.row()], index.column()
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.EditRole):
            spec = item.spec
            if col == 0:
                return str(index.row() + 1)
            if col == 1:
                return str(spec.id1)
            if col == 2:
                return str(spec.id2)
            if col == 3:
                return f"{spec.separation:.1f}"
            if col == 4:
                dmag = self.delta_mag(index.row())
                return "—" if dmag is None else f"{dmag:+.2f}"
            if col == self.STATUS:
                return item.status
            return item.note
        if role == Qt.ItemDataRole.ForegroundRole and col == self.STATUS:
            return QBrush(QColor(*STATUS_COLORS[item.status]))
        if role == Qt.ItemDataRole.BackgroundRole and item.status != "pending":
            return QBrush(QColor(*STATUS_COLORS[item.status], 38))
        if role == Qt.ItemDataRole.TextAlignmentRole and col < 5:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole and col == self.NOTE:
            return "double-click (or F2) to edit the note"
        return None

    def setData(self, index: QModelIndex, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:  # noqa: N802
        if role != Qt.ItemDataRole.EditRole or index.column() != self.NOTE:
            return False
        self.ctl.set_note(index.row(), str(value))
        return True

    # ------------------------------------------------------------------ helpers
    def delta_mag(self, row: int) -> float | None:
        """Catalog magnitude of galaxy 2 minus galaxy 1, plus the flux scale's change."""
        stamps = self.ctl.state.stamps
        if stamps is None:
            return None
        spec = self.ctl.session.queue[row].spec
        if not self._mags:
            self._mags = {int(i): float(m) for i, m in zip(stamps.ids, stamps.catalog["mag"])}
        m1, m2 = self._mags.get(spec.id1), self._mags.get(spec.id2)
        return None if m1 is None or m2 is None else m2 - m1 + spec.delta_mag_scale

    def _changed(self, change: SessionChange) -> None:
        if change.structure:
            self._reset()
        elif change.rows:
            self.dataChanged.emit(self.index(min(change.rows), 0),
                                  self.index(max(change.rows), len(self.COLUMNS) - 1))

    def _reset(self) -> None:
        self._mags = {}
        self.beginResetModel()
        self.endResetModel()


class QueuePanel(QWidget):
    """Counts by status, the queue table, and "Generate N random blends".

    Selecting a row loads its blend in the editor; the actions A / R / F (action table) decide the
    selected rows; Enter (action table) adds the editor's blend.
    """

    def __init__(self, ctl: SessionController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctl = ctl
        self.model = QueueModel(ctl, self)
        self.counts = QLabel(self)
        self.counts.setTextFormat(Qt.TextFormat.RichText)
        self.counts.setWordWrap(True)
        self.banner = QLabel("Review: ↑/↓ move · A accept · R reject · F flag (then the next blend)", self)
        self.banner.setObjectName("caption")
        self.banner.setWordWrap(True)
        self.banner.hide()
        self.table = QTableView(self)
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked
                                   | QAbstractItemView.EditTrigger.EditKeyPressed)
        self.table.setAlternatingRowColors(False)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(22)
        header = self.table.horizontalHeader()
        for col in range(QueueModel.NOTE):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(QueueModel.NOTE, QHeaderView.ResizeMode.Stretch)
        self.n_random = QSpinBox(self)
        self.n_random.setRange(1, 1_000_000)
        self.n_random.setValue(50)
        self.n_random.setKeyboardTracking(False)
        self.n_random.setToolTip("how many random blends to draw with the sampling rules (Random pairs panel)")
        self.generate_button = QPushButton("Generate random", self)
        self.generate_button.setToolTip("queue N random blends drawn from the filtered catalog with the "
                                        "sampling rules, for triage")
        self.generate_button.clicked.connect(lambda: ctl.generate_random(int(self.n_random.value())))
        row = QHBoxLayout()
        row.setSpacing(6)
        row.addWidget(self.n_random)
        row.addWidget(self.generate_button)
        row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(4)
        layout.addWidget(self.counts)
        layout.addWidget(self.banner)
        layout.addWidget(self.table, 1)
        layout.addLayout(row)

        self.table.selectionModel().currentRowChanged.connect(self._current_row_changed)
        ctl.changed.connect(self._update_counts)
        ctl.replaced.connect(self._update_counts)
        ctl.itemLoaded.connect(self.select_row)
        ctl.placeChanged.connect(self.show_place)
        self._update_counts()

    def selected_rows(self) -> list[int]:
        """Selected queue rows, ascending."""
        return sorted({i.row() for i in self.table.selectionModel().selectedRows()})

    def current_row(self) -> int | None:
        """The row with the keyboard focus (``None`` when there is none)."""
        index = self.table.currentIndex()
        return index.row() if index.isValid() else None

    def select_row(self, row: int) -> None:
        """Make ``row`` the current and only selected row (and show it)."""
        if not 0 <= row < self.model.rowCount():
            return
        index = self.model.index(row, 0)
        sel = self.table.selectionModel()
        if self.current_row() != row or self.selected_rows() != [row]:
            sel.setCurrentIndex(index, QItemSelectionModel.SelectionFlag.ClearAndSelect
                                | QItemSelectionModel.SelectionFlag.Rows)
        self.table.scrollTo(index)

    def show_place(self, rows: list[int]) -> None:
        """Select ``rows`` (the first becomes the current row); none: clear the selection."""
        rows = [r for r in rows if 0 <= r < self.model.rowCount()]
        sel = self.table.selectionModel()
        if not rows:
            sel.blockSignals(True)  # the editor shows a blend that is not queued: nothing to load
            sel.clearSelection()
            sel.setCurrentIndex(QModelIndex(), QItemSelectionModel.SelectionFlag.NoUpdate)
            sel.blockSignals(False)
            self.table.viewport().update()
            return
        self.select_row(rows[0])
        for r in rows[1:]:
            sel.select(self.model.index(r, 0), QItemSelectionModel.SelectionFlag.Select
                       | QItemSelectionModel.SelectionFlag.Rows)

    def _current_row_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid() and current.row() != self.ctl.session.current_item:
            self.ctl.load_item(current.row())

    def _update_counts(self, *_args: object) -> None:
        counts = self.ctl.session.counts()
        parts = [f"<b>{sum(counts.values()):,}</b> queued"]
        for status in STATUSES:
            r, g, b = (int(v) for v in QColor(*STATUS_COLORS[status]).getRgb()[:3])
            parts.append(f"<span style='color: rgb({r},{g},{b})'>{counts[status]:,} {status}</span>")
        if self.ctl.session.modified and self.ctl.session.queue:
            parts.append("<i>unsaved</i>")
        self.counts.setText(" · ".join(parts))
