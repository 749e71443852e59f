"""Display panel: stretch, interval, colormap, a histogram with draggable levels, mask overlay options.

Every widget writes to the :class:`~.display_model.DisplayModel` and re-reads it when the model changes,
so a change made elsewhere (a shortcut, a session) shows here too.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Callable, Iterator

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt, QTimer
from PyQt6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QHBoxLayout,
                             QLabel, QPushButton, QSlider, QVBoxLayout, QWidget)

from ..core.display.stretch import FILL_COLOR, INTERVALS, MASK_COLORS, STRETCHES, display_histogram
from .display_model import COLORMAPS, DisplayModel
from .style import COLORS, configure_pyqtgraph

__all__ = ["DisplayPanel", "LevelsHistogram", "HISTOGRAM_MS"]

#: Shortest interval between two histogram redraws while the reference image changes quickly.
HISTOGRAM_MS = 100


@contextlib.contextmanager
def _no_matplotlib_colormap_menu() -> Iterator[None]:
    """pyqtgraph's gradient menu lists matplotlib's colormaps by importing ``matplotlib.pyplot`` (1-2 s of
    start-up) when matplotlib is installed; the gradient here is read-only (its menu never opens), so the
    list is left empty while the widget is built."""
    from pyqtgraph.widgets import ColorMapMenu

    original = getattr(ColorMapMenu, "find_mpl_leftovers", None)
    if original is None or "matplotlib.pyplot" in sys.modules:
        yield
        return
    ColorMapMenu.find_mpl_leftovers = lambda: []
    try:
        yield
    finally:
        ColorMapMenu.find_mpl_leftovers = original


class LevelsHistogram(pg.HistogramLUTWidget):
    """pyqtgraph's histogram/levels widget bound to a :class:`DisplayModel` instead of one image.

    The histogram is the reference image's (the blend); dragging the region sets manual levels on
    the model; the colour bar shows the model's stretched LUT (read-only).
    """

    def __init__(self, display: DisplayModel, parent: QWidget | None = None) -> None:
        configure_pyqtgraph()
        with _no_matplotlib_colormap_menu():
            super().__init__(parent, orientation="horizontal", gradientPosition="bottom")
        self.display = display
        self._syncing = False
        #: ``defer(key, fn)``: when to redraw (the window passes its blend view's :class:`AfterPaint`, so the
        #: histogram follows the frame's paint instead of delaying it); by default at once
        self.defer: Callable[[str, Callable[[], None]], None] = lambda _key, fn: fn()
        self._deferred = False
        # the histogram is a readout beside the picture: while the blend changes quickly (a drag, a
        # run of nudges) it is redrawn at most once per HISTOGRAM_MS, and always for the last image
        self._hist_dirty = False
        self._hist_timer = QTimer(self)
        self._hist_timer.setSingleShot(True)
        self._hist_timer.setInterval(HISTOGRAM_MS)
        self._hist_timer.timeout.connect(self._hist_timeout)
        self.item.gradient.showTicks(False)
        self.item.gradient.setEnabled(False)  # the LUT comes from stretch + colormap
        self.item.fillHistogram(True, color=(120, 160, 210, 110))
        self.item.region.setBrush(pg.mkBrush(78, 161, 224, 28))
        self.item.region.setHoverBrush(pg.mkBrush(78, 161, 224, 55))
        for line in self.item.region.lines:
            line.setPen(pg.mkPen(COLORS["accent"], width=2))
            line.setHoverPen(pg.mkPen("#ffffff", width=2))
        self.item.sigLevelsChanged.connect(self._region_moved)
        display.levelsChanged.connect(self._levels_changed)
        display.referenceChanged.connect(self._reference_changed)
        display.lutChanged.connect(self._lut_changed)
        self.setMinimumHeight(120)
        self._lut_changed()

    def _region_moved(self, *_args: object) -> None:
        if self._syncing:
            return
        lo, hi = self.item.getLevels()
        if hi > lo and (lo, hi) != self.display.levels:
            self.display.set_levels(float(lo), float(hi))

    def _levels_changed(self, lo: float, hi: float) -> None:
        self._syncing = True
        try:
            self.item.setLevels(lo, hi)
        finally:
            self._syncing = False

    def _reference_changed(self) -> None:
        if self._hist_timer.isActive() or self._deferred:
            self._hist_dirty = True
            return
        self._redraw_soon()

    def _hist_timeout(self) -> None:
        if self._hist_dirty:
            self._redraw_soon()

    def _redraw_soon(self) -> None:
        self._deferred = True
        self.defer("histogram", self._redraw)

    def _redraw(self) -> None:
        self._deferred = self._hist_dirty = False
        self._update_histogram()
        self._hist_timer.start()

    def _update_histogram(self) -> None:
        image = self.display.reference
        if image is None:
            return
        edges, counts = display_histogram(image, bins=160, levels=self.display.levels)
        centres = 0.5 * (edges[:-1] + edges[1:])
        self.item.plot.setData(centres, np.log1p(counts.astype(float)))
        self.item.vb.enableAutoRange(self.item.vb.YAxis, True)  # counts axis
        self.item.setHistogramRange(float(edges[0]), float(edges[-1]), padding=0.0)

    def _lut_changed(self) -> None:
        lut = self.display.lut()
        idx = np.linspace(0, len(lut) - 1, 64).astype(int)
        cmap = pg.ColorMap(np.linspace(0.0, 1.0, 64), lut[idx, :3])
        self.item.gradient.setColorMap(cmap)
        self.item.gradient.showTicks(False)


class DisplayPanel(QWidget):
    """Widgets for every field of the display model."""

    def __init__(self, display: DisplayModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.display = display
        self.stretch = QComboBox()
        self.stretch.addItems(STRETCHES)
        self.softening = QDoubleSpinBox()
        self.softening.setDecimals(3)
        self.softening.setRange(0.001, 100000.0)
        self.softening.setKeyboardTracking(False)
        self.softening.setToolTip("asinh: a in asinh(x/a)/asinh(1/a) (small = stronger); "
                                  "log: a in log(a x + 1)/log(a + 1)")
        self.interval = QComboBox()
        self.interval.addItems(INTERVALS)
        self.percentile = QDoubleSpinBox()
        self.percentile.setRange(50.0, 100.0)
        self.percentile.setDecimals(2)
        self.percentile.setSingleStep(0.1)
        self.percentile.setSuffix(" %")
        self.percentile.setKeyboardTracking(False)
        self.cmap = QComboBox()
        self.cmap.addItems(COLORMAPS)
        self.histogram = LevelsHistogram(display)
        self.levels_label = QLabel()
        self.levels_label.setObjectName("metricValue")
        auto = QPushButton("Auto levels")
        auto.setToolTip("Levels from the interval again (L)")
        auto.clicked.connect(display.auto_levels)

        scale = QGroupBox("Scale")
        form = QFormLayout(scale)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        form.addRow("Stretch", self.stretch)
        self.softening_label = QLabel("Softening a")
        form.addRow(self.softening_label, self.softening)
        form.addRow("Interval", self.interval)
        form.addRow("Keep", self.percentile)
        form.addRow("Colormap", self.cmap)

        levels = QGroupBox("Levels")
        lv = QVBoxLayout(levels)
        lv.addWidget(self.histogram)
        row = QHBoxLayout()
        row.addWidget(self.levels_label, 1)
        row.addWidget(auto)
        lv.addLayout(row)

        self.show_masks = QCheckBox("Show masks  (M)")
        self.outline = QCheckBox("Outlines only  (O)")
        self.show_fill = QCheckBox("Hatch padded pixels  (G)")
        self.show_fill.setToolTip("hatch the pixels where a stamp holds no data of its own: the survey's or "
                                  "the reader's padding (fill masks), and where galaxy 2's moved stamp does "
                                  "not reach")
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setToolTip("opacity of filled masks")
        masks = QGroupBox("Mask overlay")
        mf = QFormLayout(masks)
        mf.addRow(self.show_masks)
        mf.addRow(self.outline)
        mf.addRow("Opacity", self.opacity)
        mf.addRow(self.show_fill)
        legend = QLabel(self._legend())
        legend.setTextFormat(Qt.TextFormat.RichText)
        legend.setWordWrap(True)
        mf.addRow(legend)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 8)
        layout.setSpacing(8)
        layout.addWidget(scale)
        layout.addWidget(levels)
        layout.addWidget(masks)
        layout.addStretch(1)

        self.stretch.currentTextChanged.connect(lambda t: self._set(stretch=t))
        self.softening.valueChanged.connect(self._softening_changed)
        self.interval.currentTextChanged.connect(lambda t: self._set(interval=t))
        self.percentile.valueChanged.connect(lambda v: self._set(percentile=float(v)))
        self.cmap.currentTextChanged.connect(lambda t: self._set(cmap=t))
        self.show_masks.toggled.connect(lambda on: display.set_overlay(visible=on))
        self.outline.toggled.connect(lambda on: display.set_overlay(outline=on))
        self.show_fill.toggled.connect(lambda on: display.set_overlay(fill=on))
        self.opacity.valueChanged.connect(lambda v: display.set_overlay(opacity=v / 100.0))
        display.settingsChanged.connect(self.sync)
        display.overlayChanged.connect(self.sync)
        display.levelsChanged.connect(self._show_levels)
        self._syncing = False
        self.sync()

    # ------------------------------------------------------------------ model -> widgets
    def sync(self) -> None:
        """Show the model's values in the widgets (without echoing them back)."""
        s, d = self.display.settings, self.display
        self._syncing = True
        try:
            for combo, value in ((self.stretch, s.stretch), (self.interval, s.interval),
                                 (self.cmap, s.cmap)):
                combo.blockSignals(True)
                combo.setCurrentText(value)
                combo.blockSignals(False)
            for box, value in ((self.softening, s.log_a if s.stretch == "log" else s.asinh_a),
                               (self.percentile, s.percentile)):
                box.blockSignals(True)
                box.setValue(value)
                box.blockSignals(False)
            self.softening.setEnabled(s.stretch in ("asinh", "log"))
            self.softening_label.setEnabled(s.stretch in ("asinh", "log"))
            self.percentile.setEnabled(s.interval == "percentile")
            for w, value in ((self.show_masks, d.mask_visible), (self.outline, d.mask_outline),
                             (self.show_fill, d.fill_visible)):
                w.blockSignals(True)
                w.setChecked(value)
                w.blockSignals(False)
            self.opacity.blockSignals(True)
            self.opacity.setValue(int(round(d.mask_opacity * 100)))
            self.opacity.blockSignals(False)
            self.opacity.setEnabled(not d.mask_outline)
        finally:
            self._syncing = False
        self._show_levels(*self.display.levels)

    # ------------------------------------------------------------------ widgets -> model
    def _set(self, **changes: object) -> None:
        if not self._syncing:
            self.display.set(**changes)

    def _softening_changed(self, value: float) -> None:
        key = "log_a" if self.display.settings.stretch == "log" else "asinh_a"
        self._set(**{key: float(value)})

    def _show_levels(self, lo: float, hi: float) -> None:
        manual = self.display.settings.levels is not None
        self.levels_label.setText(f"{lo:.4g} … {hi:.4g}" + ("  (manual)" if manual else ""))

    @staticmethod
    def _legend() -> str:
        names = ("galaxy 1", "galaxy 2", "overlap", "padded")
        parts = [f"<span style='color:#{r:02x}{g:02x}{b:02x}'>■</span> {n}"
                 for (r, g, b), n in zip((*MASK_COLORS, FILL_COLOR), names)]
        return f"<span style='color:{COLORS['muted']}'>" + " &nbsp; ".join(parts) + "</span>"
