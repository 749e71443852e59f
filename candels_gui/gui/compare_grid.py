"""The image grid and the metric tables of the Compare view.

:class:`CompareGrid` shows one row per deblender and six columns (blend, truth galaxy 1 and 2, the
outputs matched to them, the residual). Every view is linked in pan and zoom to the first one, every
column has the same width, and every image uses the one lookup table and the one pair of levels of the
app's :class:`~.display_model.DisplayModel`, so brightness means the same thing in every panel.
:func:`comparison_rows` turns a :class:`~.compare_metrics.BlendComparison` into those rows.
:class:`MetricTable` is a small read-only table with one row per deblender.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QRectF, QSize, Qt
from PyQt6.QtGui import QBrush, QColor
from PyQt6.QtWidgets import QAbstractItemView, QHeaderView, QLabel, QTableWidget, QTableWidgetItem, QWidget

from ..core.display.stretch import display_array
from .compare_metrics import BlendComparison
from .deblend_view import residual_image, segmentation_overlay
from .display_model import DisplayModel
from .style import COLORS, configure_pyqtgraph

__all__ = ["CompareGrid", "GridRow", "MetricTable", "comparison_rows", "COLUMN_TITLES", "BLEND_COLUMNS",
           "SUMMARY_COLUMNS", "format_metric"]

#: Titles of the six columns of the grid.
COLUMN_TITLES = ("Blend", "Truth 1", "Truth 2", "Output 1", "Output 2", "Residual")
#: Columns of the per-blend metric table: (key of the comparison table, header).
BLEND_COLUMNS: tuple[tuple[str, str], ...] = (
    ("n_det", "detections"), ("iou_1", "IoU 1"), ("iou_2", "IoU 2"), ("dmag_1", "Δmag 1"),
    ("dmag_2", "Δmag 2"), ("rmse", "RMSE"), ("psnr", "PSNR (dB)"), ("ssim", "SSIM"), ("shape_err", "|Δg|"))
#: Columns of the summary table: (summary key, header).
SUMMARY_COLUMNS: tuple[tuple[str, str], ...] = (
    ("precision", "precision"), ("recall", "recall"), ("f1", "F1"), ("iou_mean", "IoU"),
    ("flux_mape", "flux MAPE %"), ("dmag_mean", "Δmag mean"), ("dmag_sigma", "Δmag σ"),
    ("outlier_frac", "outliers"), ("rmse", "RMSE"), ("psnr", "PSNR (dB)"), ("ssim", "SSIM"),
    ("shape_err", "|Δg|"), ("shape_fail", "shape lost"), ("n_blends", "blends"))


#: Short headers used when the full ones do not fit (a legend under the table spells them out).
SHORT_HEADERS = {"detections": "det", "precision": "P", "recall": "R", "flux MAPE %": "MAPE%",
                 "Δmag mean": "Δm", "Δmag σ": "σΔm", "outliers": "out", "PSNR (dB)": "PSNR",
                 "shape lost": "lost", "blends": "N", "Δmag 1": "Δm1", "Δmag 2": "Δm2"}
#: What each short header means (the legend).
SHORT_MEANING = {"det": "detections", "P": "precision", "R": "recall", "MAPE%": "flux MAPE %",
                 "Δm": "Δmag mean", "σΔm": "Δmag σ", "out": "outlier fraction (|Δmag| > 0.75)",
                 "PSNR": "PSNR (dB)", "lost": "shapes not measured", "N": "blends", "Δm1": "Δmag galaxy 1",
                 "Δm2": "Δmag galaxy 2"}


def format_metric(key: str, value: Any) -> str:
    """Text of a metric value in the tables (``—`` for NaN / missing).

    Examples
    --------
    >>> format_metric("dmag_1", 0.1234), format_metric("n_det", 2), format_metric("iou_1", float("nan"))
    ('+0.123', '2', '—')
    """
    if value is None:
        return "—"
    if key in ("n_det", "n_blends", "tp", "fp", "fn"):
        return str(int(value))
    v = float(value)
    if np.isnan(v):
        return "—"
    if np.isinf(v):
        return "∞" if v > 0 else "−∞"
    if key.startswith("dmag"):
        return f"{v:+.3f}"
    if key == "flux_mape":
        return f"{v:.1f}"
    if key == "psnr":
        return f"{v:.2f}"
    if key == "rmse":
        return f"{v:.3g}"
    return f"{v:.3f}"


def _hex(color: Sequence[int]) -> str:
    return "#" + "".join(f"{int(c):02x}" for c in color[:3])


def _label(text: str, *, color: str = COLORS["muted"], size: str = "9pt", justify: str = "center"
           ) -> pg.LabelItem:
    return pg.LabelItem(text, color=color, size=size, justify=justify)


# ----------------------------------------------------------------------------------------- image grid
@dataclass
class GridRow:
    """What one row of :class:`CompareGrid` shows.

    Attributes
    ----------
    name : str
        Deblender name (row title).
    images : list of 6 arrays or None
        Raw images of the columns :data:`COLUMN_TITLES` (``None`` leaves a view empty).
    overlays : list of 6 RGBA arrays or None
        Footprint outlines drawn over each view.
    caption : str
        Small rich text under the name.
    color : (r, g, b)
        Colour of the name (the deblender's colour in the plots).
    notes : list of 6 str
        Text drawn in the middle of an empty view ("no match").
    """

    name: str
    images: list[np.ndarray | None]
    overlays: list[np.ndarray | None] = field(default_factory=lambda: [None] * 6)
    caption: str = ""
    color: tuple[int, int, int] = (215, 218, 223)
    notes: list[str] = field(default_factory=lambda: [""] * 6)


def _outline(mask: np.ndarray, galaxy: int) -> np.ndarray:
    """RGBA outline of one footprint in the editor's colour of galaxy ``galaxy`` (0 or 1)."""
    stack = np.zeros((2,) + mask.shape, bool)
    stack[galaxy] = mask
    return segmentation_overlay(stack)


def comparison_rows(comparison: BlendComparison, colors: Mapping[str, Sequence[int]]) -> list[GridRow]:
    """One :class:`GridRow` per deblender of ``comparison``.

    Columns: the blend with the detected footprints (the sources matched to galaxy 1 and 2 in the
    galaxy colours, unmatched ones in others), the two true galaxies with their footprints, the outputs
    matched to them with their footprints ("no match" when none is), and the blend minus the sum of all
    outputs.
    """
    rows = []
    empty = np.zeros(comparison.image.shape, bool)
    for name, res in comparison.results.items():
        j = comparison.matched(name)
        seg = res.segmentation
        detected = [seg[k] if k >= 0 else empty for k in j] + [seg[k] for k in range(len(seg)) if k not in j]
        extra = res.n_sources - sum(k >= 0 for k in j)
        caption = (f"{res.n_sources} source(s)" + (f"<br>{extra} unmatched" if extra > 0 else "")
                   + f"<br><span style='color:{COLORS['muted']}'>{res.device}</span>")
        rows.append(GridRow(
            name,
            [comparison.image, comparison.isolated[0], comparison.isolated[1],
             *(res.images[k] if k >= 0 else None for k in j), residual_image(comparison.image, res)],
            [segmentation_overlay(np.stack(detected)), _outline(comparison.masks[0], 0),
             _outline(comparison.masks[1], 1),
             *(_outline(seg[k], g) if k >= 0 else None for g, k in enumerate(j)), None],
            caption, tuple(colors[name]), ["", "", "", *("no match" if k < 0 else "" for k in j), ""]))
    return rows


class CompareGrid(pg.GraphicsLayoutWidget):
    """Rows of six linked image views sharing one stretch and one pair of levels.

    Parameters
    ----------
    display : DisplayModel
        Source of the lookup table, the levels and the overlay visibility.
    """

    def __init__(self, display: DisplayModel, parent: QWidget | None = None) -> None:
        configure_pyqtgraph()
        super().__init__(parent)
        self.display = display
        self.ci.layout.setContentsMargins(2, 2, 2, 2)
        self.ci.layout.setSpacing(4)
        self.boxes: list[list[pg.ViewBox]] = []
        self.items: list[list[pg.ImageItem]] = []
        self.overlay_items: list[list[pg.ImageItem]] = []
        self.note_items: list[list[pg.TextItem]] = []
        self.captions: list[pg.LabelItem] = []
        self._names: list[str] = []
        self._shape: tuple[int, int] | None = None
        self._fitted = True
        self.message = _label("", size="10pt")
        display.lutChanged.connect(self._apply_lut)
        display.levelsChanged.connect(self._apply_levels)
        display.overlayChanged.connect(self._apply_overlay_visibility)
        self.set_message("No blend")

    # ------------------------------------------------------------------ content
    @property
    def names(self) -> list[str]:
        """Deblender names of the rows, top to bottom."""
        return list(self._names)

    def set_message(self, text: str) -> None:
        """Remove every row and show ``text`` instead."""
        self._build([])
        self.message.setText(text, color=COLORS["muted"], size="10pt")
        self.ci.addItem(self.message, row=0, col=0)
        self._fill_view()

    def set_rows(self, rows: Sequence[GridRow]) -> None:
        """Show ``rows`` (the layout is rebuilt only when the deblenders change)."""
        if not rows:
            self.set_message("No results")
            return
        names = [r.name for r in rows]
        shape = next((np.shape(im) for r in rows for im in r.images if im is not None), None)
        rebuilt = names != self._names
        if rebuilt:
            self._build(rows)
        levels, lut = self.display.levels, self.display.lut()
        for r, row in enumerate(rows):
            self.captions[r].setText(f"<b style='color:{_hex(row.color)}'>{row.name}</b><br>{row.caption}",
                                     color=COLORS["text"], size="9pt")
            for c in range(len(COLUMN_TITLES)):
                item, over, note = self.items[r][c], self.overlay_items[r][c], self.note_items[r][c]
                image = row.images[c]
                if image is None:
                    item.clear()
                else:
                    item.setImage(display_array(image), autoLevels=False, levels=levels, lut=lut)
                overlay = row.overlays[c] if c < len(row.overlays) else None
                if overlay is None:
                    over.clear()
                else:
                    over.setImage(np.ascontiguousarray(overlay), autoLevels=False, levels=(0, 255))
                text = row.notes[c] if c < len(row.notes) else ""
                note.setText(text, color=COLORS["muted"])
                note.setVisible(bool(text))
        if shape is not None and (rebuilt or shape != self._shape):
            self._shape = tuple(shape)  # type: ignore[assignment]
            h, w = self._shape
            for row_items in (*self.items, *self.overlay_items):
                for item in row_items:
                    item.setRect(QRectF(-0.5, -0.5, w, h))
            for row_notes in self.note_items:
                for note in row_notes:
                    note.setPos(w / 2 - 0.5, h / 2 - 0.5)
            self.fit()
        self._apply_overlay_visibility()

    def fit(self) -> None:
        """Show the whole stamp in every view (they are linked); the views then follow resizes."""
        self._fitted = True
        if self.boxes and self._shape is not None:
            h, w = self._shape
            self.boxes[0][0].setRange(QRectF(-0.5, -0.5, w, h), padding=0.02)

    def resizeEvent(self, ev: Any) -> None:  # noqa: N802 (Qt name)
        super().resizeEvent(ev)
        if getattr(self, "_fitted", False):  # keep the whole stamp in view until the user pans or zooms
            self.fit()

    def shown(self) -> list[list[np.ndarray | None]]:
        """The raw arrays of every view, row by row (``None`` where empty)."""
        return [[item.image for item in row] for row in self.items]

    def all_boxes(self) -> list[pg.ViewBox]:
        """Every view box, row by row."""
        return [vb for row in self.boxes for vb in row]

    # ------------------------------------------------------------------ private
    def _build(self, rows: Sequence[GridRow]) -> None:
        self.ci.clear()
        self.boxes, self.items, self.overlay_items, self.note_items, self.captions = [], [], [], [], []
        self._names = [r.name for r in rows]
        self._shape = None
        if not rows:
            return
        corner = _label("")
        corner.setFixedWidth(118)
        self.ci.addItem(corner, row=0, col=0)
        for c, title in enumerate(COLUMN_TITLES, start=1):
            self.ci.addItem(_label(title, color=COLORS["text"]), row=0, col=c)
            self.ci.layout.setColumnStretchFactor(c, 1)  # equal columns: every view shows the same region
            self.ci.layout.setColumnPreferredWidth(c, 80)
        self.ci.layout.setRowStretchFactor(0, 0)
        root: pg.ViewBox | None = None
        lut = self.display.lut()
        for r, _row in enumerate(rows, start=1):
            caption = _label("", color=COLORS["text"], justify="left")
            caption.setFixedWidth(118)
            self.ci.addItem(caption, row=r, col=0)
            self.captions.append(caption)
            boxes, items, overs, notes = [], [], [], []
            for c in range(1, len(COLUMN_TITLES) + 1):
                vb = pg.ViewBox(lockAspect=True, enableMenu=False, invertY=False)
                vb.setBorder(pg.mkPen(COLORS["border"]))
                vb.setBackgroundColor(COLORS["view"])
                self.ci.addItem(vb, row=r, col=c)
                item = pg.ImageItem(axisOrder="row-major")
                item.setLookupTable(lut)
                over = pg.ImageItem(axisOrder="row-major")
                over.setZValue(10)
                note = pg.TextItem("", color=COLORS["muted"], anchor=(0.5, 0.5))
                note.setZValue(20)
                note.setVisible(False)
                for it in (item, over, note):
                    vb.addItem(it)
                vb.sigRangeChangedManually.connect(self._user_moved)
                if root is None:
                    root = vb
                else:
                    vb.setXLink(root)
                    vb.setYLink(root)
                boxes.append(vb)
                items.append(item)
                overs.append(over)
                notes.append(note)
            self.boxes.append(boxes)
            self.items.append(items)
            self.overlay_items.append(overs)
            self.note_items.append(notes)
            self.ci.layout.setRowStretchFactor(r, 1)
        self._fill_view()

    def _fill_view(self) -> None:
        # While items are added the layout clamps its (top-level) widget to the size limits of the moment,
        # and pyqtgraph resizes it to the view only on the next resize of the widget: do it now.
        self.ci.layout.activate()
        self.ci.setGeometry(QRectF(self.range))

    def _user_moved(self, *_args: Any) -> None:
        self._fitted = False

    def _apply_lut(self) -> None:
        lut = self.display.lut()
        for row in self.items:
            for item in row:
                item.setLookupTable(lut)

    def _apply_levels(self, lo: float, hi: float) -> None:
        for row in self.items:
            for item in row:
                if item.image is not None:
                    item.setLevels((lo, hi))

    def _apply_overlay_visibility(self) -> None:
        for row in self.overlay_items:
            for item in row:
                item.setVisible(self.display.mask_visible and item.image is not None)


# --------------------------------------------------------------------------------------------- tables
class MetricTable(QTableWidget):
    """A read-only table with one row per deblender (name in its colour) and one column per metric.

    Parameters
    ----------
    columns : sequence of (key, header)
        Which values of each row to show (:func:`format_metric` writes them).
    """

    def __init__(self, columns: Sequence[tuple[str, str]], parent: QWidget | None = None) -> None:
        super().__init__(0, len(columns) + 1, parent)
        self.columns = tuple(columns)
        self.values: dict[str, dict[str, Any]] = {}
        self.full_headers = ["deblender"] + [h for _k, h in self.columns]
        self.short = False  # short headers (and the legend) in use
        #: Spells out the short headers; the owner puts it under the table (hidden while headers are whole).
        self.legend = QLabel("")
        self.legend.setObjectName("caption")
        self.legend.setWordWrap(True)
        self.legend.hide()
        self._set_headers(False)
        self.verticalHeader().hide()
        self.verticalHeader().setDefaultSectionSize(22)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.horizontalHeader().setTextElideMode(Qt.TextElideMode.ElideNone)  # headers are never cut
        self._fit_columns()

    def _set_headers(self, short: bool) -> None:
        labels = [SHORT_HEADERS.get(h, h) if short else h for h in self.full_headers]
        self.short = short
        self.setHorizontalHeaderLabels(labels)
        for c, full in enumerate(self.full_headers):
            self.horizontalHeaderItem(c).setToolTip(full)
        used = [lab for lab, full in zip(labels, self.full_headers) if lab != full]
        self.legend.setText(" · ".join(f"<b>{u}</b> {SHORT_MEANING.get(u, '')}" for u in used))
        if self.legend.parentWidget() is not None:  # once the owner has placed it (never a loose window)
            self.legend.setVisible(short and bool(used))

    def set_rows(self, rows: Sequence[tuple[str, Sequence[int], Any]]) -> None:
        """Rows of ``(deblender name, colour, values)``; ``values[key]`` for every column key."""
        self.setRowCount(len(rows))
        self.values = {}
        for r, (name, color, values) in enumerate(rows):
            name_item = QTableWidgetItem(name)
            name_item.setForeground(QBrush(QColor(*color[:3])))
            self.setItem(r, 0, name_item)
            self.values[name] = {}
            for c, (key, _header) in enumerate(self.columns, start=1):
                value = values[key]
                self.values[name][key] = value
                item = QTableWidgetItem(format_metric(key, value))
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.setItem(r, c, item)
        self._fit_columns()

    def text(self, row: int, key: str) -> str:
        """The text shown for column ``key`` of row ``row``."""
        col = 1 + [k for k, _h in self.columns].index(key)
        return self.item(row, col).text()

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        self._fit_columns()

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        """As tall as all its rows."""
        return QSize(super().sizeHint().width(), self.maximumHeight())

    def _fit_columns(self) -> None:
        """Every column as wide as its header and values, the spare width shared out.

        Headers are never cut: where the full ones do not fit, short ones are used and :attr:`legend`
        spells them out; where even those do not fit, the table scrolls sideways. Its height is at most
        all its rows, at least two.
        """
        header = self.horizontalHeader()
        width = self.maximumViewportSize().width()
        if self.height() < self.maximumHeight():  # rows a scroll away: the vertical bar takes its width
            width -= self.verticalScrollBar().sizeHint().width()
        values = [self.sizeHintForColumn(c) + 2 for c in range(self.columnCount())]

        def need() -> list[int]:
            fm = header.fontMetrics()
            return [max(v, fm.horizontalAdvance(self.horizontalHeaderItem(c).text()) + 14)
                    for c, v in enumerate(values)]

        if self.short:
            self._set_headers(False)
        widths = need()
        if sum(widths) > width:
            self._set_headers(True)
            widths = need()
        scroll = sum(widths) > width
        if not scroll:
            widths = [w + (width - sum(widths)) // len(widths) for w in widths]
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded if scroll
                                          else Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        for c, w in enumerate(widths):
            header.resizeSection(c, w)
        rows = max(1, self.rowCount())
        bar = self.horizontalScrollBar().sizeHint().height() if scroll else 0
        base = header.sizeHint().height() + 2 * self.frameWidth() + 2 + bar
        # all rows when there is room; on a short screen at least two, the rest a scroll away
        self.setMinimumHeight(base + min(rows, 2) * 22)
        self.setMaximumHeight(base + rows * 22)
