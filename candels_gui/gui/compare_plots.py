"""The interactive summary plots of the Compare view (pyqtgraph).

:class:`SummaryPlots` draws per-blend tables (the columns of
:func:`~candels_gui.core.measure.binned.per_blend_table`) as three plots: Δmag against separation (one
colour per deblender; a click on a point reports its blend), IoU histograms and a metric in the
separation bins of Boucaud et al. (2020). Histograms and binned values come from
:func:`~candels_gui.core.measure.binned.binned_metric`; nothing is computed here.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pyqtgraph as pg
from astropy.table import Table
from PyQt6.QtCore import QPointF, Qt, pyqtSignal
from PyQt6.QtGui import QFont
from PyQt6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from ..core.measure.metrics import DMAG_OUTLIER, dmag_stats
from ..core.measure.binned import SEPARATION_BINS, binned_metric
from .style import COLORS, configure_pyqtgraph

__all__ = ["SummaryPlots", "DEBLENDER_COLORS", "deblender_color", "BINNED_METRICS", "IOU_BINS"]

#: Deblender colours (Okabe-Ito, brightened for the dark theme), by position in the registry.
DEBLENDER_COLORS: tuple[tuple[int, int, int], ...] = (
    (86, 180, 233), (230, 159, 0), (46, 197, 154), (220, 130, 185), (240, 228, 66), (232, 96, 28),
    (150, 150, 255), (200, 200, 200))
#: Edges of the IoU histogram bins.
IOU_BINS = np.linspace(0.0, 1.0, 21)
#: Metric choices of the binned plot: label -> (per-galaxy column, statistic, axis label).
BINNED_METRICS: dict[str, tuple[str, Any, str]] = {
    "IoU (mean)": ("iou", "mean", "IoU"),
    "Δmag outlier fraction": ("dmag", lambda d: dmag_stats(d)[2], f"fraction |Δmag| > {DMAG_OUTLIER}"),
    "Δmag (mean, inliers)": ("dmag", lambda d: dmag_stats(d)[0], "Δmag (mag)"),
    "RMSE (mean)": ("rmse", "mean", "RMSE"),
    "PSNR (mean)": ("psnr", "mean", "PSNR (dB)"),
    "SSIM (mean)": ("ssim", "mean", "SSIM"),
    "|Δg| (mean)": ("shape_err", "mean", "|g_pred - g_true|"),
}


def deblender_color(index: int) -> tuple[int, int, int]:
    """Colour of the deblender at position ``index`` of the registry (cycled)."""
    return DEBLENDER_COLORS[int(index) % len(DEBLENDER_COLORS)]


def _hex(color: Sequence[int]) -> str:
    return "#" + "".join(f"{int(c):02x}" for c in color[:3])


def _both(table: Table, name: str) -> np.ndarray:
    return np.concatenate([np.asarray(table[f"{name}_1"], float), np.asarray(table[f"{name}_2"], float)])


def _set_title(plot: pg.PlotWidget, title: str) -> None:
    """Set the title without letting its text widen the plot beyond its widget."""
    plot.setTitle(title, color=COLORS["text"], size="9pt")
    label = plot.getPlotItem().titleLabel
    label.setMinimumWidth(0)
    label._sizeHint[Qt.SizeHint.MinimumSize] = (0, label._sizeHint[Qt.SizeHint.MinimumSize][1])
    label._sizeHint[Qt.SizeHint.PreferredSize] = (0, label._sizeHint[Qt.SizeHint.PreferredSize][1])
    label.updateGeometry()


def _plot(title: str, x_label: str, y_label: str) -> pg.PlotWidget:
    configure_pyqtgraph()
    plot = pg.PlotWidget()
    _set_title(plot, title)
    plot.showGrid(x=True, y=True, alpha=0.18)
    plot.setMenuEnabled(False)
    plot.setMinimumSize(150, 150)
    for axis in ("left", "bottom"):
        plot.getAxis(axis).setPen(COLORS["border"])  # (sets the label colour too: labels come after)
        plot.getAxis(axis).setTextPen(COLORS["text"])
        plot.getAxis(axis).enableAutoSIPrefix(False)
    plot.setLabel("bottom", x_label, color=COLORS["text"])
    plot.setLabel("left", y_label, color=COLORS["text"])
    return plot


class SummaryPlots(QWidget):
    """Δmag vs separation (clickable), IoU histograms and a metric in separation bins, per deblender.

    Signals
    -------
    blendClicked(int)
        A scatter point was clicked: the value of its table's ``blend`` column (the position of the blend
        in the compared list).
    """

    blendClicked = pyqtSignal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tables: dict[str, Table] = {}
        self.colors: dict[str, tuple[int, int, int]] = {}
        self.scatter_items: dict[str, pg.ScatterPlotItem] = {}
        self.hist_items: dict[str, pg.PlotDataItem] = {}
        self.binned_items: dict[str, pg.PlotDataItem] = {}
        self.tip: Callable[[int], str] | None = None
        self.scatter = _plot("Δmag vs separation", "separation (px)", "Δmag, pred − true")
        self.scatter.setToolTip("one point per galaxy; click a point to open its blend")
        self.hist = _plot("IoU per galaxy", "IoU", "galaxies")
        self.hist.setXRange(0.0, 1.0, padding=0.02)
        self.binned = _plot("Metric", "separation (px)", "")
        self.selection = pg.ScatterPlotItem(size=17, symbol="o", pen=pg.mkPen((255, 255, 255), width=2),
                                            brush=None)
        self.selection.setZValue(50)
        self.scatter.addItem(self.selection)
        self._guides = []
        solid, dashed = Qt.PenStyle.SolidLine, Qt.PenStyle.DashLine
        for y, style in ((0.0, solid), (DMAG_OUTLIER, dashed), (-DMAG_OUTLIER, dashed)):
            line = pg.InfiniteLine(pos=y, angle=0, pen=pg.mkPen((140, 145, 155, 150), width=1, style=style))
            self.scatter.addItem(line, ignoreBounds=True)
            self._guides.append(line)
        centres = np.arange(len(SEPARATION_BINS) - 1)
        ticks = [(float(i), f"{SEPARATION_BINS[i]:g}–{SEPARATION_BINS[i + 1]:g}") for i in centres]
        bottom = self.binned.getAxis("bottom")
        bottom.setTicks([ticks, []])
        small = QFont()
        small.setPointSizeF(max(6.0, small.pointSizeF() - 1.5))
        bottom.setTickFont(small)   # four range labels under a third of the width: they ran together at 1280 px
        self.binned.setXRange(-0.5, len(centres) - 0.5, padding=0.02)
        self.metric_box = QComboBox()
        self.metric_box.addItems(list(BINNED_METRICS))
        self.metric_box.setToolTip("Metric shown in the separation bins of Boucaud et al. (2020), per galaxy")
        self.metric_box.currentTextChanged.connect(lambda _t: self._draw_binned())
        self.hint = QLabel("")
        self.hint.setObjectName("caption")
        self.hint.setTextFormat(Qt.TextFormat.RichText)
        self.hint.setWordWrap(True)  # the legend wraps rather than running under "Binned metric"
        self.hint.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Minimum)

        head = QHBoxLayout()
        head.setContentsMargins(0, 0, 0, 0)
        head.addWidget(self.hint, 1)
        head.addWidget(QLabel("Binned metric"))
        head.addWidget(self.metric_box)
        plots = QHBoxLayout()
        plots.setContentsMargins(0, 0, 0, 0)
        plots.setSpacing(6)
        plots.addWidget(self.scatter, 5)
        plots.addWidget(self.hist, 4)
        plots.addWidget(self.binned, 4)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(3)
        layout.addLayout(head)
        layout.addLayout(plots, 1)

    # ------------------------------------------------------------------ content
    def set_tables(self, tables: Mapping[str, Table], colors: Mapping[str, tuple[int, int, int]], *,
                   tip: Callable[[int], str] | None = None) -> None:
        """Draw per-blend tables (deblender name -> :func:`per_blend_table` rows with ``blend``).

        ``tip(blend)`` gives the tooltip text of a point (default: the blend number).
        """
        self.clear()
        self.tables = dict(tables)
        self.colors = {n: tuple(colors[n]) if n in colors else deblender_color(i)  # type: ignore[misc]
                       for i, n in enumerate(self.tables)}
        self.tip = tip
        for name, table in self.tables.items():
            color = self.colors[name]
            sep = np.asarray(table["separation"], float)
            blend = np.asarray(table["blend"], np.int64)
            xs, ys, data, symbols = [], [], [], []
            for g, symbol in ((1, "o"), (2, "t1")):
                d = np.asarray(table[f"dmag_{g}"], float)
                ok = np.isfinite(d) & np.isfinite(sep)
                xs.append(sep[ok])
                ys.append(d[ok])
                data += [(int(b), g) for b in blend[ok]]
                symbols += [symbol] * int(ok.sum())
            item = pg.ScatterPlotItem(x=np.concatenate(xs), y=np.concatenate(ys), data=data, symbol=symbols,
                                      size=9, pen=pg.mkPen((15, 15, 15), width=0.6),
                                      brush=pg.mkBrush(*color, 210), hoverable=True,
                                      hoverPen=pg.mkPen((255, 255, 255), width=1.5), hoverSize=12,
                                      tip=self._tip_text)
            item.sigClicked.connect(self.points_clicked)
            self.scatter.addItem(item)
            self.scatter_items[name] = item
            iou = _both(table, "iou")
            if not np.isfinite(iou).any():
                continue
            counts = binned_metric(iou, iou, IOU_BINS, statistic="count")
            hist = pg.PlotDataItem(IOU_BINS, counts, stepMode="center", fillLevel=0,
                                   brush=pg.mkBrush(*color, 45), pen=pg.mkPen(color, width=2), name=name)
            self.hist.addItem(hist)
            self.hist_items[name] = hist
        self._frame_scatter()
        self._draw_binned()
        n = max((len(t) for t in self.tables.values()), default=0)
        key = "  ".join(f"<span style='color:{_hex(c)}'>●</span> {name}" for name, c in self.colors.items())
        self.hint.setText(f"{key} &nbsp;·&nbsp; {n} blend(s) · ○ galaxy 1, △ galaxy 2 · dashed: "
                          f"outliers, |Δmag| = {DMAG_OUTLIER}")
        self.hint.setToolTip(f"Δmag = m_pred − m_true (mag). Points beyond the dashed lines (|Δmag| > "
                             f"{DMAG_OUTLIER}) are outliers; outliers and missed galaxies count in the table.")

    def clear(self) -> None:
        """Remove every curve and point."""
        for items, plot in ((self.scatter_items, self.scatter), (self.hist_items, self.hist),
                            (self.binned_items, self.binned)):
            for item in items.values():
                plot.removeItem(item)
            items.clear()
        self.selection.setData([], [])
        self.tables = {}
        self.hint.setText("")

    def select_blend(self, blend: int | None) -> None:
        """Ring the points of blend ``blend`` (``None`` clears the ring)."""
        xs, ys = [], []
        if blend is not None:
            for item in self.scatter_items.values():
                for p in item.points():
                    if p.data()[0] == blend:
                        xs.append(p.pos().x())
                        ys.append(p.pos().y())
        self.selection.setData(xs, ys)

    def point_scene_pos(self, name: str, index: int) -> QPointF:
        """Scene position of point ``index`` of deblender ``name``'s scatter (for tests and tours)."""
        p = self.scatter_items[name].points()[index]
        return self.scatter.getPlotItem().vb.mapViewToScene(p.pos())

    # ------------------------------------------------------------------ slots
    def points_clicked(self, _item: Any, points: Sequence[Any], _ev: Any = None) -> None:
        """Click handler of the scatter items: report the first point's blend."""
        if len(points):
            blend = int(points[0].data()[0])
            self.select_blend(blend)
            self.blendClicked.emit(blend)

    # ------------------------------------------------------------------ private
    def _tip_text(self, x: float, y: float, data: Any) -> str:
        blend, g = data
        head = self.tip(int(blend)) if self.tip is not None else f"blend {blend}"
        return f"{head}\ngalaxy {g}: separation {x:.1f} px, Δmag {y:+.3f}"

    def _frame_scatter(self) -> None:
        ys = np.concatenate([item.data["y"] for item in self.scatter_items.values()] or [np.zeros(0)])
        xs = np.concatenate([item.data["x"] for item in self.scatter_items.values()] or [np.zeros(0)])
        if xs.size:
            top = float(np.clip(np.nanmax(np.abs(ys)) * 1.1, 1.0, 2.5))
            self.scatter.setYRange(-top, top, padding=0.02)
            self.scatter.setXRange(0.0, float(np.nanmax(xs)) * 1.05 + 1.0, padding=0.0)

    def _draw_binned(self) -> None:
        for item in self.binned_items.values():
            self.binned.removeItem(item)
        self.binned_items.clear()
        label = self.metric_box.currentText()
        column, statistic, axis = BINNED_METRICS[label]
        self.binned.setLabel("left", axis, color=COLORS["text"])
        _set_title(self.binned, label)   # "vs separation": the x axis says it (the long title overran a narrow plot)
        n = len(self.tables)
        centres = np.arange(len(SEPARATION_BINS) - 1, dtype=float)
        for k, (name, table) in enumerate(self.tables.items()):
            sep = np.asarray(table["separation"], float)
            values = binned_metric(np.concatenate([sep, sep]), _both(table, column), SEPARATION_BINS,
                                   statistic=statistic)
            if not np.isfinite(values).any():      # not measured by this deblender (blend2flux's IoU)
                continue
            offset = (k - (n - 1) / 2) * 0.08
            color = self.colors[name]
            item = pg.PlotDataItem(centres + offset, values, pen=pg.mkPen(color, width=2), symbol="o",
                                   symbolSize=8, symbolBrush=pg.mkBrush(*color), symbolPen=None, name=name,
                                   connect="finite")
            self.binned.addItem(item)
            self.binned_items[name] = item
        self.binned.enableAutoRange(axis="y")
