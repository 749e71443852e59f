"""The morphology scatter panel: Gini–M20 (with the Lotz et al. 2008 regions) or Sérsic n against half-light
radius, one point per galaxy coloured by its predicted class; a click selects the galaxy in the catalog.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from ..core.data.morph_labels import CLASS_NAMES, MORPH_CLASSES
from ..core.measure.morph_rules import BULGE_LINE, MERGER_LINE
from ..core.measure.morphology import PENDING_FLAG
from .style import configure_pyqtgraph

__all__ = ["MorphologyPanel", "CLASS_COLOURS", "PLOTS"]

#: Okabe & Ito colours, one per class.
CLASS_COLOURS = {"sph": "#D55E00", "sphd": "#E69F00", "disk": "#0072B2", "irr": "#009E73", "ps": "#CC79A7",
                 "unc": "#999999"}
#: The two planes: name -> (x column, y column, x label, y label, log x).
PLOTS = {"Gini – M20": ("m20", "gini", "M20", "Gini", False),
         "Sérsic n – half-light radius": ("rhalf", "sersic_n", "half-light radius (px)", "Sérsic n", True)}


class MorphologyPanel(QWidget):
    """Scatter of the statmorph diagnostics (see the module docstring).

    Parameters
    ----------
    morph : MorphologyController
        Diagnostics and predictions.
    catalog : CatalogPanel
        Clicking a point puts the catalog's cursor on that galaxy; the cursor's galaxy is ringed.
    """

    def __init__(self, morph: Any, catalog: Any, parent: QWidget | None = None) -> None:
        configure_pyqtgraph()
        super().__init__(parent)
        self.morph, self.catalog = morph, catalog
        self.which = QComboBox()
        self.which.addItems(list(PLOTS))
        self.which.currentTextChanged.connect(self.redraw)
        self.note = QLabel("")
        self.note.setObjectName("caption")
        # the plot is made when the tab is first shown (a pyqtgraph plot: ~20 ms of the app's start-up)
        self.plot: pg.PlotWidget | None = None
        self._lines: list[Any] = []
        self._rows = np.zeros(0, np.int64)
        top = QHBoxLayout()
        top.addWidget(self.which, 1)
        top.addWidget(self.note)
        self._layout = layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 6)
        layout.addLayout(top)
        morph.diagnosticsChanged.connect(self.redraw)
        morph.predictionsChanged.connect(self.redraw)
        catalog.table.selectionModel().currentRowChanged.connect(lambda *_: self._ring())
        self.redraw()

    def build_plot(self) -> pg.PlotWidget:
        """The scatter plot (made on first use)."""
        if self.plot is None:
            self.plot = pg.PlotWidget()
            self.plot.setMinimumHeight(220)
            self.plot.showGrid(x=True, y=True, alpha=0.25)
            for axis in ("left", "bottom"):
                self.plot.getAxis(axis).enableAutoSIPrefix(False)
            self.legend = self.plot.addLegend(offset=(-8, 8), labelTextSize="8pt")
            self.scatter = pg.ScatterPlotItem(size=7, pxMode=True, hoverable=True)
            self.scatter.sigClicked.connect(self._clicked)
            self.ring = pg.ScatterPlotItem(size=15, pxMode=True, brush=None, pen=pg.mkPen("#000000", width=2))
            self.plot.addItem(self.scatter)
            self.plot.addItem(self.ring)
            self._layout.addWidget(self.plot, 1)
            self.redraw()
        return self.plot

    def showEvent(self, event: Any) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        self.build_plot()

    def points(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(rows, x, y)`` of the galaxies drawn (finite diagnostics only)."""
        table = self.morph.diagnostics
        if table is None:
            return np.zeros(0, np.int64), np.zeros(0), np.zeros(0)
        xcol, ycol, _, _, logx = PLOTS[self.which.currentText()]
        x, y = np.asarray(table[xcol], float), np.asarray(table[ycol], float)
        ok = np.isfinite(x) & np.isfinite(y) & (np.asarray(table["flag"]) < 2)
        if logx:
            ok &= x > 0
        rows = np.flatnonzero(ok)
        return rows, x[rows], y[rows]

    def redraw(self) -> None:
        """Draw the points of the chosen plane."""
        if self.plot is None:   # not shown yet: the points are drawn when it is
            return
        self.scatter.clear()
        self.legend.clear()
        for line in self._lines:
            self.plot.removeItem(line)
        self._lines = []
        rows, x, y = self.points()
        self._rows = rows
        xcol, ycol, xlabel, ylabel, logx = PLOTS[self.which.currentText()]
        self.plot.setLabel("bottom", xlabel)
        self.plot.setLabel("left", ylabel)
        self.plot.setLogMode(x=logx, y=False)
        self.plot.getViewBox().invertX(xcol == "m20")      # M20 conventionally runs from 0 (left) to -3
        if self.morph.diagnostics is None:
            self.note.setText("measuring…" if self.morph.state.stamps is not None else "")
            return
        pred = self.morph.predicted
        classes = pred[rows] if pred is not None else np.full(len(rows), "unc")
        spots = [{"pos": (np.log10(xi) if logx else xi, yi), "data": int(r),
                  "brush": pg.mkBrush(CLASS_COLOURS.get(str(c), "#999999")), "pen": None}
                 for r, xi, yi, c in zip(rows, x, y, classes)]
        self.scatter.addPoints(spots)
        if pred is not None:
            for c in MORPH_CLASSES:
                if (classes == c).any():
                    self.legend.addItem(pg.ScatterPlotItem(brush=pg.mkBrush(CLASS_COLOURS[c]), pen=None, size=7),
                                        CLASS_NAMES[c])
        if xcol == "m20":
            m = np.array([-3.0, 0.0])
            for (a, b), style in ((MERGER_LINE, Qt.PenStyle.DashLine), (BULGE_LINE, Qt.PenStyle.DotLine)):
                line = pg.PlotDataItem(m, a * m + b, pen=pg.mkPen("#555555", width=1, style=style))
                self.plot.addItem(line)
                self._lines.append(line)
            # the three regions of Lotz et al. (2008), named around the lines' crossing
            (a1, b1), (a2, b2) = MERGER_LINE, BULGE_LINE
            m0 = (b2 - b1) / (a1 - a2)
            g0 = a1 * m0 + b1
            for text, (mx, gy), anchor in (("mergers", (m0, g0 + 0.05), (0.5, 1.0)),
                                           ("E/S0/Sa", (m0 - 0.25, g0), (0.0, 0.5)),
                                           ("Sb–Ir", (m0, g0 - 0.05), (0.5, 0.0))):
                label = pg.TextItem(text, color="#b0b0b0", anchor=anchor, fill=pg.mkBrush(24, 24, 28, 190))
                label.setZValue(20)      # over the points, legible on a crowded plot
                label.setPos(mx, gy)
                self.plot.addItem(label, ignoreBounds=True)
                self._lines.append(label)
        n_all = len(self.morph.diagnostics)
        busy = [what for what, on in (("classifying", pred is None),
                                      ("measuring", (np.asarray(self.morph.diagnostics["flag"]) == PENDING_FLAG).any()))
                if on]
        self.note.setText(f"{len(rows)} of {n_all} galaxies" + "".join(f" · {b}…" for b in busy))
        self._ring()

    def select_row(self, row: int) -> bool:
        """Put the catalog cursor on stamp ``row`` (what a click does)."""
        return bool(self.catalog.select_stamp(int(row)))

    def _clicked(self, _item: Any, points: Any, *_: Any) -> None:
        if len(points):
            self.select_row(points[0].data())

    def _ring(self) -> None:
        if self.plot is None:
            return
        stamp = self.catalog.current_stamp()
        self.ring.clear()
        if stamp is None or stamp not in set(self._rows.tolist()):
            return
        k = int(np.flatnonzero(self._rows == stamp)[0])
        spot = self.scatter.points()[k] if k < len(self.scatter.points()) else None
        if spot is not None:
            self.ring.addPoints([{"pos": spot.pos()}])
