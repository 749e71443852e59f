"""A virtual table model over the catalog: filtering and sorting are numpy index arrays.

Nothing per row is stored: ``data()`` formats one cell from the column arrays on demand, and sorting is
one ``argsort`` of the visible rows, so 100,000 rows stay fast.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from astropy.table import Table
from PyQt6.QtCore import QAbstractTableModel, QModelIndex, Qt
from PyQt6.QtGui import QBrush, QColor

from ..core.data.catalog import missing_mask
from ..core.measure.morphology import PENDING_FLAG

__all__ = ["CatalogModel", "ROW_ROLE"]

#: Item-data role that returns the stamp index of a row.
ROW_ROLE = Qt.ItemDataRole.UserRole + 1

_FIRST = ("id", "mag", "radius", "z", "galtype", "ra", "dec")
_FORMATS = {"mag": "{:.2f}", "radius": "{:.2f}", "z": "{:.3f}", "ra": "{:.5f}", "dec": "{:.5f}",
            "mag_err": "{:.3f}", "p_pred": "{:.2f}", "gini": "{:.3f}", "m20": "{:.2f}", "C": "{:.2f}",
            "A": "{:.3f}", "S": "{:.3f}", "sersic_n": "{:.2f}", "rhalf": "{:.2f}"}
_HIDDEN = ("segval",)
#: Order of the computed (morphology) columns.
_EXTRA_ORDER = ("galtype_pred", "p_pred", "gini", "m20", "C", "A", "S", "sersic_n", "rhalf", "morph_flag")


def _column_array(table: Table, name: str) -> np.ndarray:
    """A column for display: missing values (masked, NaN, z = -1, mag = 99: core's ``missing_mask``) as NaN,
    which shows as "—" and sorts last."""
    col = table[name]
    data = np.asarray(np.ma.getdata(col))
    if data.dtype.kind in "iuf" and name != "id":
        missing = missing_mask(col, name)
        if missing.any():
            data = np.where(missing, np.nan, data.astype(float))
    return data


class CatalogModel(QAbstractTableModel):
    """Rows of a catalog (a subset, in some order) as a Qt table model.

    ``rows[i]`` is the stamp index shown on line ``i``; :meth:`set_rows` installs a filter result and
    :meth:`sort` reorders it. Multi-dimensional columns are not shown.
    """

    def __init__(self, catalog: Table | None = None, parent: Any = None) -> None:
        super().__init__(parent)
        self.columns: list[str] = []
        self.arrays: dict[str, np.ndarray] = {}
        self.rows = np.zeros(0, np.int64)
        self.sort_column: int | None = None
        self.sort_order = Qt.SortOrder.AscendingOrder
        self.marks: dict[int, QBrush] = {}
        self.extra: dict[str, np.ndarray] = {}   # computed columns (morphology), see set_extra_columns
        if catalog is not None:
            self.set_catalog(catalog)

    # ------------------------------------------------------------------ content
    def set_catalog(self, catalog: Table) -> None:
        """Show every row of ``catalog`` in file order."""
        self.beginResetModel()
        names = [n for n in catalog.colnames if catalog[n].ndim == 1 and n not in _HIDDEN]
        self.columns = [n for n in _FIRST if n in names] + [n for n in names if n not in _FIRST]
        self.arrays = {n: _column_array(catalog, n) for n in self.columns}
        self.rows = np.arange(len(catalog), dtype=np.int64)
        self.sort_column = None
        self.extra = {}
        self.endResetModel()

    def set_extra_columns(self, arrays: dict[str, np.ndarray]) -> None:
        """Add or replace computed columns (one value per stamp), shown after ``galtype``; rows and sort kept.

        A name that is already a catalog column replaces its values (the predicted types filling an
        empty ``galtype``).
        """
        sort_name = self.columns[self.sort_column] if self.sort_column is not None else None
        self.beginResetModel()
        for name, values in arrays.items():
            values = np.asarray(values)
            if name in self.arrays and name not in self.extra:
                self.arrays[name] = values
                continue
            self.extra[name] = values
            self.arrays[name] = values
        # computed columns right after galtype, in a fixed order whatever order they arrive in
        base = [c for c in self.columns if c not in self.extra]
        at = base.index("galtype") + 1 if "galtype" in base else len(base)
        extra = sorted(self.extra, key=lambda c: (_EXTRA_ORDER.index(c) if c in _EXTRA_ORDER else len(_EXTRA_ORDER), c))
        self.columns = base[:at] + extra + base[at:]
        self.sort_column = self.columns.index(sort_name) if sort_name in self.columns else None
        self.rows = self._sorted(self.rows)
        self.endResetModel()

    def set_rows(self, rows: np.ndarray) -> None:
        """Show these stamp indices (e.g. the rows passing a filter), keeping the current sort."""
        self.beginResetModel()
        self.rows = self._sorted(np.asarray(rows, dtype=np.int64))
        self.endResetModel()

    def set_marks(self, marks: dict[int, QColor]) -> None:
        """Tint the rows of these stamp indices (galaxy 1 and galaxy 2 of the current pair)."""
        old = set(self.marks)
        self.marks = {int(k): QBrush(v) for k, v in marks.items()}
        for stamp in old | set(self.marks):
            line = self.line_of(stamp)
            if line is not None:
                self.dataChanged.emit(self.index(line, 0), self.index(line, len(self.columns) - 1),
                                      [Qt.ItemDataRole.BackgroundRole])

    def stamp_index(self, line: int) -> int:
        """Stamp index shown on ``line``."""
        return int(self.rows[line])

    def line_of(self, stamp_index: int) -> int | None:
        """Line showing ``stamp_index`` (``None`` when filtered out)."""
        hits = np.flatnonzero(self.rows == stamp_index)
        return int(hits[0]) if hits.size else None

    # ------------------------------------------------------------------ Qt API
    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.columns)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            name = self.columns[index.column()]
            value = self.arrays[name][self.rows[index.row()]]
            return self._format(name, value)
        if role == ROW_ROLE:
            return int(self.rows[index.row()])
        if role == Qt.ItemDataRole.BackgroundRole and self.marks:
            return self.marks.get(int(self.rows[index.row()]))
        if role == Qt.ItemDataRole.TextAlignmentRole:
            name = self.columns[index.column()]
            kind = self.arrays[name].dtype.kind
            if kind in "iuf":
                return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            return int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal:
            return self.columns[section] if section < len(self.columns) else None
        return str(section + 1)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Sort the visible rows by ``column`` (stable; NaN last)."""
        self.layoutAboutToBeChanged.emit()
        self.sort_column, self.sort_order = column, order
        self.rows = self._sorted(self.rows)
        self.layoutChanged.emit()

    # ------------------------------------------------------------------ private
    def _sorted(self, rows: np.ndarray) -> np.ndarray:
        if self.sort_column is None or self.sort_column >= len(self.columns) or rows.size == 0:
            return rows
        values = self.arrays[self.columns[self.sort_column]][rows]
        if values.dtype.kind == "f":
            order = np.argsort(values, kind="stable")  # NaN sort last
            if self.sort_order == Qt.SortOrder.DescendingOrder:
                n_nan = int(np.isnan(values).sum())
                finite = order[: len(order) - n_nan][::-1]
                order = np.concatenate([finite, order[len(order) - n_nan:]])
        else:
            order = np.argsort(values, kind="stable")
            if self.sort_order == Qt.SortOrder.DescendingOrder:
                order = order[::-1]
        return rows[order]

    @staticmethod
    def _format(name: str, value: Any) -> str:
        if isinstance(value, (bytes, np.bytes_)):
            return value.decode(errors="replace")
        if isinstance(value, (float, np.floating)):
            if np.isnan(value):
                return "—"
            return _FORMATS.get(name, "{:.4g}").format(float(value))
        if name == "morph_flag" and value == PENDING_FLAG:
            return "…"      # statmorph has not reached this galaxy yet
        return str(value)
