"""One stamp view: a pyqtgraph ViewBox with the raw image, an RGBA overlay and a title.

Images are shown raw (float32, C-contiguous) with explicit levels and the display model's lookup
table, so moving the levels never re-stretches the array; the hover readout gives raw values.
Pixel ``(row, col)`` is centred on view coordinates ``(x=col, y=row)``, row 0 at the bottom.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QPointF, QRectF, QSize, Qt, pyqtSignal
from PyQt6.QtWidgets import QWidget

from ..core.display.stretch import apply_display, display_array
from .display_model import DisplayModel
from .style import COLORS, configure_pyqtgraph

__all__ = ["StampView", "MAX_ZOOM"]

#: Zoom ceiling: screen pixels per image pixel. The floor is the whole stamp (fit).
MAX_ZOOM = 40.0


class _Title(pg.LabelItem):
    """A label that never widens its column (pyqtgraph's grows its minimum width to the text)."""

    def updateMin(self) -> None:  # noqa: N802 (pyqtgraph name)
        super().updateMin()
        self.setMinimumWidth(0)


class StampView(pg.GraphicsLayoutWidget):
    """A titled, zoomable view of one stamp.

    Parameters
    ----------
    name : str
        Short name used in readouts (``"blend"``).
    title : str
        Rich text shown above the image.
    display : DisplayModel, optional
        Source of the LUT and levels; ``None`` for views that show RGBA only (the masks view).

    Signals
    -------
    hovered(str, float, float, object)
        Mouse over the view: name, x, y (view coordinates) and the raw pixel value (``None``
        outside the image).
    left()
        The mouse left the view.
    """

    hovered = pyqtSignal(str, float, float, object)
    left = pyqtSignal()

    def __init__(self, name: str, title: str, display: DisplayModel | None = None,
                 parent: QWidget | None = None) -> None:
        configure_pyqtgraph()
        super().__init__(parent)
        self.name = name
        self.display = display
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # a click gives the keys to the views
        self.ci.layout.setContentsMargins(2, 2, 2, 2)
        self.ci.layout.setSpacing(2)
        self.title = _Title(title, color=COLORS["text"], size="9pt")
        self.addItem(self.title, row=0, col=0)
        self.vb: pg.ViewBox = self.addViewBox(row=1, col=0, lockAspect=True, enableMenu=False)
        self.vb.setBorder(pg.mkPen(COLORS["border"]))
        self.vb.setBackgroundColor(COLORS["view"])
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.overlay_item = pg.ImageItem(axisOrder="row-major")
        self.overlay_item.setZValue(10)
        self.fill_item = pg.ImageItem(axisOrder="row-major")  # hatch where the stamp holds no data
        self.fill_item.setZValue(5)
        self.fill_item.setVisible(False)
        self.vb.addItem(self.image_item)
        self.vb.addItem(self.fill_item)
        self.vb.addItem(self.overlay_item)
        self._raw: np.ndarray | None = None
        self._shape: tuple[int, int] | None = None
        self.scene().sigMouseMoved.connect(self._mouse_moved)
        self.vb.sigResized.connect(self._resized)
        self.vb.sigRangeChangedManually.connect(self._user_zoomed)
        self._auto_fit = True  # refit on resize until the user zooms or pans
        self._region: tuple[int, int, int, int] | None = None   # what fit() shows: None, the whole stamp
        if display is not None:
            display.lutChanged.connect(self._apply_lut)
            display.levelsChanged.connect(self._apply_levels)
            self._apply_lut()

    # ------------------------------------------------------------------ content
    def set_image(self, image: np.ndarray | None) -> None:
        """Show a raw 2-D image (kept for the readout) with the model's levels and LUT."""
        if image is None:
            self._raw = None
            self.image_item.clear()
            return
        raw = display_array(image)
        first = self._shape != raw.shape
        self._raw = raw
        levels = self.display.levels if self.display is not None else None
        self.image_item.setImage(raw, autoLevels=False, levels=levels)
        if first:
            self._shape = raw.shape
            self._place(self.image_item, raw.shape)
            self._place(self.overlay_item, raw.shape)
            self._update_limits()
            self.fit()

    def set_rgba(self, rgba: np.ndarray | None) -> None:
        """Show an RGBA uint8 picture as the image (no levels, no LUT)."""
        if rgba is None:
            self._raw = None
            self.image_item.clear()
            return
        self._raw = None
        first = self._shape != rgba.shape[:2]
        self.image_item.setLookupTable(None)
        self.image_item.setImage(np.ascontiguousarray(rgba), autoLevels=False, levels=(0, 255))
        if first:
            self._shape = rgba.shape[:2]
            self._place(self.image_item, rgba.shape[:2])
            self._place(self.overlay_item, rgba.shape[:2])
            self._update_limits()
            self.fit()

    def set_overlay(self, rgba: np.ndarray | None) -> None:
        """An RGBA uint8 overlay drawn over the image (``None`` hides it)."""
        if rgba is None:
            self.overlay_item.setVisible(False)
            return
        self.overlay_item.setImage(np.ascontiguousarray(rgba), autoLevels=False, levels=(0, 255))
        if self._shape is not None:
            self._place(self.overlay_item, self._shape)
        self.overlay_item.setVisible(True)

    def set_fill(self, rgba: np.ndarray | None) -> None:
        """An RGBA uint8 fill hatch drawn under the mask overlay (``None`` hides it)."""
        if rgba is None:
            self.fill_item.setVisible(False)
            return
        self.fill_item.setImage(np.ascontiguousarray(rgba), autoLevels=False, levels=(0, 255))
        self._place(self.fill_item, rgba.shape[:2])
        self.fill_item.setVisible(True)

    def refit_next(self) -> None:
        """Fit the view to the next image shown (new data may have another stamp size)."""
        self._shape = None

    def set_title(self, text: str) -> None:
        """Rich-text title above the view (re-laid out only when the text changes)."""
        if text == getattr(self, "_title_text", None):
            return
        self._title_text = text
        self.title.setText(text, color=COLORS["text"], size="9pt")

    def raw(self) -> np.ndarray | None:
        """The raw image shown (``None`` for RGBA views)."""
        return self._raw

    def rendered(self) -> np.ndarray | None:
        """What the view paints for the image: RGBA uint8 via its LUT and levels (tests, pictures)."""
        if self._raw is None:
            return None
        lo, hi = self.image_item.getLevels()
        lut = self.image_item.lut
        return apply_display(self._raw, (float(lo), float(hi)), lut)

    # ------------------------------------------------------------------ view range
    def fit(self, region: tuple[int, int, int, int] | None = None) -> None:
        """Show the whole stamp, or ``region`` ``(x0, y0, width, height)`` of it in pixels, and keep showing it when
        the view is resized, until the user zooms."""
        self._auto_fit = True
        self._region = region
        self._show_fit()

    def _show_fit(self) -> None:
        if self._shape is None:
            return
        if self._region is not None:
            x0, y0, w, h = self._region
            self.vb.setRange(QRectF(x0 - 0.5, y0 - 0.5, w, h), padding=0.02)
        else:
            h, w = self._shape[:2]
            self.vb.setRange(QRectF(-0.5, -0.5, w, h), padding=0.02)

    def one_to_one(self) -> None:
        """One image pixel per screen pixel, centred on the current view centre."""
        rect = self.vb.viewRect()
        size = self.vb.boundingRect()
        if size.width() <= 0 or size.height() <= 0:
            return
        cx, cy = rect.center().x(), rect.center().y()
        w, h = size.width(), size.height()
        self._auto_fit = False
        self.vb.setRange(QRectF(cx - w / 2, cy - h / 2, w, h), padding=0)

    def zoom(self, factor: float) -> None:
        """Zoom about the view centre (``factor > 1`` zooms in), between the whole stamp and MAX_ZOOM."""
        self._auto_fit = False
        self.vb.scaleBy((1.0 / factor, 1.0 / factor))

    def link_to(self, other: "StampView") -> None:
        """Share pan and zoom with ``other``."""
        self.vb.setXLink(other.vb)
        self.vb.setYLink(other.vb)

    def zoom_limits(self) -> tuple[float, float] | None:
        """(smallest, largest) visible width in image pixels: :data:`MAX_ZOOM` screen pixels per image
        pixel, and the whole stamp (``None`` before an image or a size)."""
        limits = self.vb.state["limits"]["xRange"]
        return None if limits[1] is None else (float(limits[0]), float(limits[1]))

    # ------------------------------------------------------------------ private
    def _resized(self, *_args: object) -> None:
        self._update_limits()
        if self._auto_fit:
            self._show_fit()

    def _user_zoomed(self, *_args: object) -> None:
        self._auto_fit = False

    def _update_limits(self, *_args: object) -> None:
        """Zoom floor (the whole stamp fits, whatever the view's shape) and ceiling (MAX_ZOOM px/pixel)."""
        if self._shape is None:
            return
        rect = self.vb.boundingRect()
        bw, bh = rect.width(), rect.height()
        if bw <= 1 or bh <= 1:
            return
        h, w = self._shape[:2]
        aspect = bw / bh
        fit_x = max(w, h * aspect) * 1.05  # fit() pads by 2 % a side
        fit_y = max(h, w / aspect) * 1.05
        self.vb.setLimits(minXRange=max(bw / MAX_ZOOM, 1.0), maxXRange=fit_x,
                          minYRange=max(bh / MAX_ZOOM, 1.0), maxYRange=fit_y)

    @staticmethod
    def _place(item: pg.ImageItem, shape: tuple[int, ...]) -> None:
        h, w = shape[:2]
        item.setRect(QRectF(-0.5, -0.5, w, h))  # pixel centres on integer coordinates

    def _apply_lut(self) -> None:
        if self.display is not None:
            self.image_item.setLookupTable(self.display.lut())

    def _apply_levels(self, lo: float, hi: float) -> None:
        if self._raw is not None:
            self.image_item.setLevels((lo, hi))

    def _mouse_moved(self, pos: QPointF) -> None:
        if not self.vb.sceneBoundingRect().contains(pos):
            self.left.emit()
            return
        p = self.vb.mapSceneToView(pos)
        x, y = float(p.x()), float(p.y())
        value = None
        if self._raw is not None:
            col, row = int(math.floor(x + 0.5)), int(math.floor(y + 0.5))
            h, w = self._raw.shape
            if 0 <= row < h and 0 <= col < w:
                value = float(self._raw[row, col])
        self.hovered.emit(self.name, x, y, value)

    def leaveEvent(self, ev) -> None:  # noqa: N802 (Qt name)
        self.left.emit()
        super().leaveEvent(ev)

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(320, 320)

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        return QSize(160, 160)

