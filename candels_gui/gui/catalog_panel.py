"""Catalog panel: filters, the virtual catalog table, a thumbnail, and picking galaxy 1 / galaxy 2."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
from PyQt6.QtCore import QEvent, QModelIndex, QObject, Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QColor, QImage, QPixmap
from PyQt6.QtWidgets import (QAbstractItemView, QApplication, QCheckBox, QDoubleSpinBox, QGridLayout, QGroupBox,
                             QHBoxLayout, QHeaderView, QLabel, QLineEdit, QMenu, QPushButton,
                             QTableView, QVBoxLayout, QWidget)

from ..core.data.catalog import MORPH_ONLY_TYPES, CatalogFilter, missing_mask, present_values
from ..core.data.morph_labels import CLASS_NAMES
from ..core.data.stampset import GALTYPES
from ..core.display.stretch import MASK_COLORS, apply_display, display_levels
from .catalog_model import CatalogModel
from .display_model import DisplayModel
from .state import AppState

__all__ = ["CatalogPanel", "RangeFilter"]

THUMB = 128
#: Starting widths (px) of the catalog's columns, by name; others hold their header.
COLUMN_WIDTHS = {"id": 72, "mag": 56, "radius": 58, "z": 52, "galtype": 60, "ra": 84, "dec": 84}


class RangeFilter(QWidget):
    """Two spin boxes for a ``[low, high]`` bound; a bound at the data's extreme means "no bound"."""

    changed = pyqtSignal()

    def __init__(self, decimals: int = 2, step: float = 0.1, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.low, self.high = QDoubleSpinBox(self), QDoubleSpinBox(self)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        for box, tip in ((self.low, "lower bound"), (self.high, "upper bound")):
            box.setDecimals(decimals)
            box.setSingleStep(step)
            box.setKeyboardTracking(False)
            box.setToolTip(f"{tip} (at the data's extreme: no bound)")
            box.valueChanged.connect(self.changed)
            box.setMinimumWidth(70)  # a narrow catalog column (1280 px screens) still fits both boxes
            layout.addWidget(box, 1)
        self._lo = self._hi = 0.0

    def set_data_range(self, values: np.ndarray) -> None:
        """Set the spin-box limits to the range of the values present (missing ones already left out by
        the caller) and clear the bounds; no values at all disable the filter."""
        finite = np.asarray(values, float)
        finite = finite[np.isfinite(finite)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
        self.setEnabled(finite.size > 0)
        self.setToolTip("" if finite.size else "no values in this catalog")
        step = 10 ** -self.low.decimals()
        # rounded as the boxes show them: 25.990000000000002 made the upper box at the data's maximum (25.99)
        # a bound the user never set
        self._lo = round(float(np.floor(lo / step) * step), self.low.decimals())
        self._hi = round(float(np.ceil(hi / step) * step), self.low.decimals())
        for box in (self.low, self.high):
            box.blockSignals(True)
            box.setRange(self._lo, self._hi)
            box.blockSignals(False)
        self.reset()

    def reset(self) -> None:
        """No bounds."""
        for box, v in ((self.low, self._lo), (self.high, self._hi)):
            box.blockSignals(True)
            box.setValue(v)
            box.blockSignals(False)
        self.changed.emit()

    def show_bounds(self, low: float | None, high: float | None) -> None:
        """Show ``(low, high)`` (``None``: no bound, the data's extreme) without signalling a change."""
        for box, v, free in ((self.low, low, self._lo), (self.high, high, self._hi)):
            box.blockSignals(True)
            box.setValue(free if v is None else float(v))
            box.blockSignals(False)

    def bounds(self) -> tuple[float | None, float | None]:
        """``(low, high)``; ``None`` where the box sits at the data's extreme."""
        lo, hi = self.low.value(), self.high.value()
        return (None if lo <= self._lo else lo), (None if hi >= self._hi else hi)


class CatalogPanel(QWidget):
    """Filter the catalog, browse it, preview a stamp and pick the two galaxies of a blend.

    Parameters
    ----------
    state : AppState
    display : DisplayModel
        Stretch and colormap of the thumbnail.
    on_error : callable
        Called with an exception raised by the core (bad filter, failed draw).
    """

    def __init__(self, state: AppState, display: DisplayModel,
                 on_error: Callable[[BaseException], None], parent: QWidget | None = None, *,
                 status: Callable[[str, int], None] | None = None) -> None:
        super().__init__(parent)
        self.state, self.display, self.on_error = state, display, on_error
        # what the user can put right at once (a range upside down, no galaxy left to draw from) is said in the
        # status bar, not in an error box
        self.say = status or (lambda text, msecs: on_error(ValueError(text)))
        self.model = CatalogModel(parent=self)
        self._build()
        self._filter_timer = QTimer(self)
        self._filter_timer.setSingleShot(True)
        self._filter_timer.setInterval(150)
        self._filter_timer.timeout.connect(self.apply_filter)
        for w in (self.mag, self.radius, self.z):
            w.changed.connect(self._filter_timer.start)
        for box in self.types.values():
            box.toggled.connect(self._filter_timer.start)
        self.id_search.textChanged.connect(self._filter_timer.start)
        state.stampsChanged.connect(self._stamps_changed)
        state.filterChanged.connect(self._filter_changed)
        state.specChanged.connect(self._spec_changed)
        display.lutChanged.connect(self._refresh_thumbnail)

    # ------------------------------------------------------------------ building
    def _build(self) -> None:
        filters = QGroupBox("Filters", self)
        grid = QGridLayout(filters)
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(4)
        self.mag, self.radius, self.z = RangeFilter(2, 0.1), RangeFilter(2, 0.5), RangeFilter(2, 0.1)
        for row, (label, w) in enumerate((("Magnitude", self.mag), ("Radius (px)", self.radius),
                                          ("Redshift", self.z))):
            grid.addWidget(QLabel(label), row, 0)
            grid.addWidget(w, row, 1)
        types = QGridLayout()   # four a row: the predicted types' two boxes go under, not widening the panel
        types.setHorizontalSpacing(10)
        types.setVerticalSpacing(2)
        self.types = {}
        for k, t in enumerate((*GALTYPES, *MORPH_ONLY_TYPES)):
            box = QCheckBox(t)
            box.setChecked(True)
            box.setToolTip(f"keep galaxies of type {t}" if t in GALTYPES else
                           f"keep {CLASS_NAMES[t]}s (a type the classifier predicts; shown when present)")
            box.setVisible(t in GALTYPES)
            self.types[t] = box
            types.addWidget(box, k // len(GALTYPES), k % len(GALTYPES))
        types.setColumnStretch(len(GALTYPES), 1)
        grid.addWidget(QLabel("Type"), 3, 0)
        grid.addLayout(types, 3, 1)
        self.id_search = QLineEdit()
        self.id_search.setPlaceholderText("ID contains…")
        self.id_search.setClearButtonEnabled(True)
        grid.addWidget(QLabel("ID"), 4, 0)
        grid.addWidget(self.id_search, 4, 1)
        self.count = QLabel("no data")
        self.count.setObjectName("caption")
        reset = QPushButton("Reset filters")
        reset.clicked.connect(self.reset_filters)
        bottom = QHBoxLayout()
        bottom.addWidget(self.count, 1)
        bottom.addWidget(reset)
        grid.addLayout(bottom, 5, 0, 1, 2)
        grid.setColumnStretch(1, 1)

        self.table = QTableView(self)
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(-1, Qt.SortOrder.AscendingOrder)
        self.table.setAlternatingRowColors(True)
        self.table.setMouseTracking(True)
        self.table.setWordWrap(False)
        self.table.setShowGrid(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        vh = self.table.verticalHeader()
        vh.hide()
        vh.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        vh.setDefaultSectionSize(22)
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        hh.setDefaultSectionSize(64)
        hh.setStretchLastSection(True)
        hh.setHighlightSections(False)
        self._column_widths: dict[str, int] = {}     # by column name: the user's, or the fitted one
        self._sized_columns: tuple[str, ...] = ()
        self._fitting = False
        hh.sectionResized.connect(self._column_resized)
        self.model.modelReset.connect(self._fit_columns)
        self.table.selectionModel().currentRowChanged.connect(self._current_changed)
        self.table.entered.connect(self._hovered)
        self.table.doubleClicked.connect(self._double_clicked)
        self.table.customContextMenuRequested.connect(self._context_menu)
        self.table.viewport().installEventFilter(self)

        self.thumb = QLabel(self)
        self.thumb.setObjectName("thumbnail")
        self.thumb.setFixedSize(THUMB + 2, THUMB + 2)
        self.thumb.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.thumb_caption = QLabel("", self)
        self.thumb_caption.setObjectName("caption")
        self.thumb_caption.setWordWrap(True)
        self.pair_label = QLabel("", self)
        self.pair_label.setTextFormat(Qt.TextFormat.RichText)
        self.pair_label.setWordWrap(True)
        self.g1_button = QPushButton("Galaxy 1")
        self.g2_button = QPushButton("Galaxy 2")
        self.random_button = QPushButton("Random pair")
        self.g1_button.setToolTip("Set the selected row as galaxy 1, the central galaxy (key 1, or double-click)")
        self.g2_button.setToolTip("Set the selected row as galaxy 2, the companion (key 2, or Shift+double-click)")
        self.random_button.setToolTip("Draw a pair and an offset from the filtered catalog with the "
                                      "sampling rules (key N)")
        self.g1_button.clicked.connect(lambda: self.pick_current(1))
        self.g2_button.clicked.connect(lambda: self.pick_current(2))
        self.random_button.clicked.connect(self.random_pair)
        side = QVBoxLayout()
        side.setSpacing(6)
        side.addWidget(self.thumb_caption)
        side.addStretch(1)
        side.addWidget(self.pair_label)
        buttons = QGridLayout()
        buttons.setSpacing(4)
        buttons.addWidget(self.g1_button, 0, 0)
        buttons.addWidget(self.g2_button, 0, 1)
        buttons.addWidget(self.random_button, 1, 0, 1, 2)
        side.addLayout(buttons)
        preview = QHBoxLayout()
        preview.setSpacing(10)
        preview.addWidget(self.thumb, 0, Qt.AlignmentFlag.AlignTop)
        preview.addLayout(side, 1)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 8)
        layout.setSpacing(8)
        layout.addWidget(filters)
        layout.addWidget(self.table, 1)
        layout.addLayout(preview)

    # ------------------------------------------------------------------ public
    def current_stamp(self) -> int | None:
        """Stamp index of the row under the table cursor."""
        idx = self.table.currentIndex()
        return self.model.stamp_index(idx.row()) if idx.isValid() else None

    def select_stamp(self, stamp_index: int) -> bool:
        """Put the cursor on ``stamp_index``'s row (False when it is filtered out)."""
        line = self.model.line_of(stamp_index)
        if line is None:
            return False
        self.table.selectRow(line)
        self.table.scrollTo(self.model.index(line, 0), QAbstractItemView.ScrollHint.PositionAtCenter)
        return True

    def pick_current(self, which: int) -> None:
        """Make the row under the cursor galaxy ``which`` (1 or 2)."""
        stamp = self.current_stamp()
        if stamp is None or self.state.stamps is None:
            return
        gid = int(self.state.stamps.ids[stamp])
        other = self.state.picked[2 - which]
        if other == gid and not self.state.rules.allow_self:
            self.say(f"{gid} is galaxy {3 - which} already: pick another galaxy (a galaxy is not blended with "
                     f"itself unless the sampling rules allow it)", 6000)
            return
        try:
            self.state.pick_galaxy(which, gid)
        except (ValueError, KeyError) as exc:
            self.on_error(exc)

    def random_pair(self) -> None:
        """Draw a random pair with the sampling rules (errors go to ``on_error``)."""
        if len(self.state.pool()) == 0:
            self.say("No galaxy passes the catalog's filters: widen them (or Reset filters) to draw a pair", 6000)
            return
        try:
            self.state.random_pair()
        except (ValueError, KeyError) as exc:
            self.on_error(exc)

    def current_filter(self) -> CatalogFilter:
        """The :class:`CatalogFilter` the widgets describe."""
        mag_low, mag_high = self.mag.bounds()
        r_min, r_max = self.radius.bounds()
        z_min, z_max = self.z.bounds()
        excluded = tuple(t for t, box in self.types.items() if not box.isChecked())
        return CatalogFilter(mag_low=mag_low, mag_high=mag_high, excluded_types=excluded,
                             radius_min=r_min, radius_max=r_max, z_min=z_min, z_max=z_max,
                             id_search=self.id_search.text().strip())

    def apply_filter(self) -> None:
        """Send the widgets' filter to the state now (normally debounced)."""
        self._filter_timer.stop()
        for label, w in (("Magnitude", self.mag), ("Radius", self.radius), ("Redshift", self.z)):
            if w.low.value() > w.high.value():
                self.say(f"{label}: the lower bound {w.low.value():g} is above the upper {w.high.value():g}; "
                         f"set the upper one first", 6000)
                return
        try:
            self.state.set_filter(self.current_filter())
        except (ValueError, KeyError) as exc:
            self.on_error(exc)

    def reset_filters(self) -> None:
        """Clear every filter."""
        for w in (self.mag, self.radius, self.z):
            w.blockSignals(True)
            w.reset()
            w.blockSignals(False)
        for box in self.types.values():
            box.blockSignals(True)
            box.setChecked(True)
            box.blockSignals(False)
        self.id_search.blockSignals(True)
        self.id_search.clear()
        self.id_search.blockSignals(False)
        self.apply_filter()

    def show_types(self, galtype: Any, *, predicted: bool = False) -> None:
        """Offer the type boxes of the types in ``galtype`` (a column), each enabled when present: the catalog's
        four always, point source and unclassifiable when present or when the types are ``predicted`` (the
        classifier's six classes, greyed like the others when none is of that class)."""
        present = set(np.char.lower(np.asarray(galtype).astype(str)))
        for t, box in self.types.items():
            box.setEnabled(t in present)
            if t in MORPH_ONLY_TYPES:
                box.setVisible(predicted or t in present)

    # ------------------------------------------------------------------ slots
    def _stamps_changed(self) -> None:
        stamps = self.state.stamps
        if stamps is None:
            return
        self._column_widths, self._sized_columns = {}, ()
        self.model.set_catalog(stamps.catalog)
        cat = stamps.catalog
        for w, col in ((self.mag, "mag"), (self.radius, "radius"), (self.z, "z")):
            w.blockSignals(True)
            w.set_data_range(present_values(cat, col))  # missing values (z = -1, NaN) do not set the range
            w.blockSignals(False)
        for box in self.types.values():
            box.blockSignals(True)
            box.setChecked(True)
            box.blockSignals(False)
        self.show_types(cat["galtype"])
        self.id_search.blockSignals(True)
        self.id_search.clear()
        self.id_search.blockSignals(False)
        self._update_count()
        if len(stamps):
            self.table.selectRow(0)

    def _column_resized(self, index: int, _old: int, new: int) -> None:
        if not self._fitting and 0 <= index < len(self.model.columns):
            self._column_widths[self.model.columns[index]] = new

    def _fit_columns(self) -> None:
        """Widths by column name whenever the columns change (computed ones arrive after galtype): the user's,
        else one that holds the header and its sort arrow."""
        columns = tuple(self.model.columns)
        if columns == self._sized_columns:
            return
        self._sized_columns = columns
        metrics = self.table.horizontalHeader().fontMetrics()
        self._fitting = True
        try:
            for c, name in enumerate(columns):
                width = self._column_widths.get(name) or max(
                    COLUMN_WIDTHS.get(name, 60), metrics.horizontalAdvance(str(name)) + 22)
                self.table.setColumnWidth(c, width)
                self._column_widths[name] = width
        finally:
            self._fitting = False

    def _show_filter(self) -> None:
        """The widgets show the state's filter (one a session restored, or the draw's), so that the next edit
        starts from it instead of dropping its cuts."""
        f = self.state.filter
        try:
            if f is None or f == self.current_filter():
                return
        except ValueError:   # the boxes hold a range upside down: show the state's
            pass
        self._filter_timer.stop()
        self.mag.show_bounds(f.mag_low, f.mag_high)
        self.radius.show_bounds(f.radius_min, f.radius_max)
        self.z.show_bounds(f.z_min, f.z_max)
        for t, box in self.types.items():
            box.blockSignals(True)
            box.setChecked(t not in f.excluded_types)
            box.blockSignals(False)
        if f.id_search != self.id_search.text().strip():
            self.id_search.blockSignals(True)
            self.id_search.setText(f.id_search)
            self.id_search.blockSignals(False)

    def _filter_changed(self) -> None:
        self._show_filter()
        current = self.current_stamp()
        self.model.set_rows(self.state.pool())
        self._update_count()
        if current is not None and not self.select_stamp(current) and self.model.rowCount():
            self.table.selectRow(0)
        self._refresh_thumbnail()

    def _spec_changed(self, spec, final: bool) -> None:
        if not final:
            return
        stamps = self.state.stamps
        pair = None if spec is None or stamps is None else (spec.id1, spec.id2, id(stamps))
        if pair is not None and pair == getattr(self, "_shown_pair", None):
            return  # only the offset moved: the marks and the pair label stay (no table repaint per frame)
        self._shown_pair = pair
        if spec is None or stamps is None:
            self.pair_label.setText("")
            self.model.set_marks({})
            return
        c1, c2 = (QColor(*MASK_COLORS[0], 70), QColor(*MASK_COLORS[1], 70))
        i1, i2 = stamps.index_of(spec.id1), stamps.index_of(spec.id2)
        self.model.set_marks({i2: c2, i1: c1})
        mags = stamps.catalog["mag"]
        h1, h2 = ("#%02x%02x%02x" % MASK_COLORS[0], "#%02x%02x%02x" % MASK_COLORS[1])
        self.pair_label.setText(
            f"<span style='color:{h1}'>■</span> G1 <b>{spec.id1}</b> &nbsp;mag {mags[i1]:.2f}<br>"
            f"<span style='color:{h2}'>■</span> G2 <b>{spec.id2}</b> &nbsp;mag {mags[i2]:.2f}")

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        self._show_thumbnail(self.model.stamp_index(current.row()) if current.isValid() else None)

    def _hovered(self, index: QModelIndex) -> None:
        if index.isValid():
            self._show_thumbnail(self.model.stamp_index(index.row()))

    def _double_clicked(self, index: QModelIndex) -> None:
        shift = bool(QApplication.keyboardModifiers() & Qt.KeyboardModifier.ShiftModifier)
        self.table.setCurrentIndex(index)
        self.pick_current(2 if shift else 1)

    def _context_menu(self, pos) -> None:
        index = self.table.indexAt(pos)
        if not index.isValid():
            return
        self.table.setCurrentIndex(index)
        menu = QMenu(self)
        menu.addAction("Set as galaxy 1", lambda: self.pick_current(1))
        menu.addAction("Set as galaxy 2", lambda: self.pick_current(2))
        menu.popup(self.table.viewport().mapToGlobal(pos))

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802
        if obj is self.table.viewport() and event.type() == QEvent.Type.Leave:
            self._refresh_thumbnail()
        return super().eventFilter(obj, event)

    # ------------------------------------------------------------------ private
    def _update_count(self) -> None:
        n = len(self.state.stamps) if self.state.stamps is not None else 0
        self.count.setText(f"{self.model.rowCount():,} of {n:,} galaxies")

    def _refresh_thumbnail(self) -> None:
        self._show_thumbnail(self.current_stamp())

    def _show_thumbnail(self, stamp: int | None) -> None:
        stamps = self.state.stamps
        if stamp is None or stamps is None:
            self.thumb.clear()
            self.thumb_caption.setText("")
            return
        image = np.asarray(stamps.images[stamp], dtype=np.float32)
        levels = display_levels(image, self.display.settings.interval_obj())
        rgba = np.ascontiguousarray(np.flipud(apply_display(image, levels, self.display.lut())))
        h, w = rgba.shape[:2]
        qimg = QImage(rgba.data, w, h, 4 * w, QImage.Format.Format_RGBA8888).copy()
        self.thumb.setPixmap(QPixmap.fromImage(qimg).scaled(
            THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation))
        row = stamps.catalog[stamp]

        def value(col: str, fmt: str) -> str:
            v = row[col]
            if np.ma.is_masked(v) or missing_mask(np.array([float(v)]), col)[0]:
                return "—"
            return format(float(v), fmt)

        self.thumb_caption.setText(
            f"ID {row['id']} · {str(row['galtype'])}\nmag {value('mag', '.2f')} · "
            f"r {value('radius', '.1f')} px · z {value('z', '.2f')}")
