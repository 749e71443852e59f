"""What the Deblend panel shows per deblender, and the cache of results it shows them from.

:class:`DeblendRow` is one row of small linked image views for one deblender: the blend with the
detected sources' segmentation over it, the first two deblended images and the residual (blend minus
the sum of the deblended images). The views share the editor's :class:`~.display_model.DisplayModel`
(lookup table and levels), so they look like the blend view. :class:`ResultCache` is a small LRU of
:class:`~candels_gui.deblend.base.DeblendResult` keyed by ``(deblender name, BlendSpec)``.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Callable, Hashable

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QRectF, QSize
from PyQt6.QtWidgets import QFrame, QScrollArea, QVBoxLayout, QWidget

from ..core.display.stretch import MASK_COLORS, display_array, mask_outline
from ..deblend.base import DeblendResult
from .display_model import DisplayModel
from .style import COLORS, configure_pyqtgraph

__all__ = ["DeblendRow", "DeblendRows", "ResultCache", "segmentation_overlay", "residual_image",
           "SOURCE_COLORS", "PANEL_TITLES", "MIN_VIEW", "MAX_VIEW"]

#: Outline colours of detected sources (the editor's galaxy colours first, then Okabe-Ito).
SOURCE_COLORS: tuple[tuple[int, int, int], ...] = (
    MASK_COLORS[0], MASK_COLORS[1], (0, 158, 115), (204, 121, 167), (240, 228, 66), (213, 94, 0),
    (0, 114, 178), (230, 230, 230))
#: Titles of the four views of a row.
PANEL_TITLES = ("detected", "deblended 1", "deblended 2", "residual")
#: Height of a row beyond its views: the caption line and the titles.
ROW_EXTRA = 44
#: Smallest and largest side (px) of an output view: rows grow to fill their area between these.
MIN_VIEW, MAX_VIEW = 120, 420


def segmentation_overlay(segmentation: np.ndarray, *, outline: bool = True, opacity: float = 0.35
                         ) -> np.ndarray:
    """RGBA uint8 (H, W, 4) picture of K footprints, one colour each (cycled after 8).

    Parameters
    ----------
    segmentation : (K, H, W) bool
        Footprints; K may be 0.
    outline : bool
        Draw each footprint's boundary (opaque) instead of filling it with ``opacity``.
    opacity : float
        Alpha of filled footprints, in [0, 1].

    Examples
    --------
    >>> seg = np.zeros((2, 8, 8), bool); seg[0, 2:5, 2:5] = True
    >>> segmentation_overlay(seg, outline=False)[3, 3].tolist()[:3] == list(SOURCE_COLORS[0])
    True
    """
    seg = np.asarray(segmentation, dtype=bool)
    if seg.ndim != 3:
        raise ValueError(f"segmentation must be (K, H, W), got shape {seg.shape}")
    if not 0.0 <= opacity <= 1.0:
        raise ValueError(f"opacity must be in [0, 1], got {opacity}")
    out = np.zeros(seg.shape[1:] + (4,), np.uint8)
    alpha = 230 if outline else int(round(255 * opacity))
    for k in range(seg.shape[0]):
        region = mask_outline(seg[k]) if outline else seg[k]
        out[region] = (*SOURCE_COLORS[k % len(SOURCE_COLORS)], alpha)
    return out


def residual_image(blend: np.ndarray, result: DeblendResult) -> np.ndarray:
    """Blend minus the sum of the deblended images (float32); the blend itself when K = 0.

    Examples
    --------
    >>> from candels_gui.deblend.base import catalog_table
    >>> r = DeblendResult(catalog_table([1], [1], [4.0]), np.ones((1, 2, 2), bool),
    ...                   np.ones((1, 2, 2), np.float32), name="x")
    >>> residual_image(np.full((2, 2), 3, np.float32), r).tolist()
    [[2.0, 2.0], [2.0, 2.0]]
    """
    blend = np.asarray(blend, np.float32)
    if result.images.shape[1:] != blend.shape:
        raise ValueError(f"{result.name}: deblended images {result.images.shape} do not fit the blend "
                         f"{blend.shape}")
    return (blend - result.images.sum(axis=0, dtype=np.float32)).astype(np.float32)


class ResultCache:
    """Least-recently-used cache of deblender results keyed by ``(name, spec)``.

    Parameters
    ----------
    capacity : int
        Most results kept (the oldest used is dropped first).

    Examples
    --------
    >>> cache = ResultCache(2)
    >>> cache.put("sep", "a", 1); cache.put("sep", "b", 2); cache.put("sep", "c", 3)
    >>> cache.get("sep", "a") is None, cache.get("sep", "c")
    (True, 3)
    """

    def __init__(self, capacity: int = 256) -> None:
        if int(capacity) < 1:
            raise ValueError(f"cache capacity must be >= 1, got {capacity}")
        self.capacity = int(capacity)
        self._data: OrderedDict[tuple[str, Hashable], object] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, name: str, spec: Hashable) -> object | None:
        """The cached result, marked as just used, or ``None``."""
        key = (name, spec)
        if key not in self._data:
            self.misses += 1
            return None
        self.hits += 1
        self._data.move_to_end(key)
        return self._data[key]

    def __contains__(self, key: tuple[str, Hashable]) -> bool:
        return key in self._data

    def put(self, name: str, spec: Hashable, result: object) -> None:
        """Store ``result`` (dropping the least recently used beyond the capacity)."""
        key = (name, spec)
        self._data[key] = result
        self._data.move_to_end(key)
        while len(self._data) > self.capacity:
            self._data.popitem(last=False)

    def drop(self, name: str | None = None) -> None:
        """Forget the results of deblender ``name`` (all results when ``None``)."""
        if name is None:
            self._data.clear()
        else:
            for key in [k for k in self._data if k[0] == name]:
                del self._data[key]

    def __len__(self) -> int:
        return len(self._data)


class DeblendRow(pg.GraphicsLayoutWidget):
    """One deblender's outputs for one blend: a caption line above four linked views.

    Parameters
    ----------
    name : str
        Deblender name (first line of the caption).
    display : DisplayModel
        The editor's display model (LUT and levels are shared).
    view_size : int
        Side of each view in pixels.
    """

    def __init__(self, name: str, display: DisplayModel, *, view_size: int = 132,
                 parent: QWidget | None = None) -> None:
        configure_pyqtgraph()
        super().__init__(parent)
        self.name = name
        self.display = display
        self.view_size = int(view_size)
        self.result: DeblendResult | None = None
        self.ci.layout.setContentsMargins(2, 2, 2, 2)
        self.ci.layout.setSpacing(3)
        # the caption runs above the views, so the four views get the row's whole width
        self.caption = pg.LabelItem("", color=COLORS["text"], size="9pt", justify="left")
        self.caption.setMinimumWidth(0)
        self.addItem(self.caption, row=0, col=0, colspan=len(PANEL_TITLES))
        self.titles: list[pg.LabelItem] = []
        self.boxes: list[pg.ViewBox] = []
        self.items: list[pg.ImageItem] = []
        for c, title in enumerate(PANEL_TITLES):
            label = pg.LabelItem(title, color=COLORS["muted"], size="8pt")
            self.addItem(label, row=1, col=c)
            vb = self.addViewBox(row=2, col=c, lockAspect=True, enableMenu=False)
            vb.setBorder(pg.mkPen(COLORS["border"]))
            vb.setBackgroundColor(COLORS["view"])
            item = pg.ImageItem(axisOrder="row-major")
            vb.addItem(item)
            if self.boxes:
                vb.setXLink(self.boxes[0])
                vb.setYLink(self.boxes[0])
            self.titles.append(label)
            self.boxes.append(vb)
            self.items.append(item)
        self.overlay_item = pg.ImageItem(axisOrder="row-major")
        self.overlay_item.setZValue(10)
        self.boxes[0].addItem(self.overlay_item)
        self._shape: tuple[int, int] | None = None
        self.set_message("not run yet")
        display.lutChanged.connect(self._apply_lut)
        display.levelsChanged.connect(self._apply_levels)
        self._apply_lut()
        self.setFixedHeight(self.view_size + ROW_EXTRA)

    # ------------------------------------------------------------------ content
    def show_result(self, blend: np.ndarray, result: DeblendResult, *, cached: bool = False) -> None:
        """Show ``result`` of deblending ``blend`` (H, W)."""
        self.result = result
        blend = display_array(blend)
        images = result.images
        empty = np.zeros_like(blend)
        arrays = (blend, images[0] if len(images) > 0 else empty,
                  images[1] if len(images) > 1 else empty, residual_image(blend, result))
        levels = self.display.levels
        for item, arr in zip(self.items, arrays):
            item.setImage(display_array(arr), autoLevels=False, levels=levels)
        self.overlay_item.setImage(segmentation_overlay(result.segmentation), autoLevels=False,
                                   levels=(0, 255))
        self.overlay_item.setVisible(True)
        if self._shape != blend.shape:
            self._shape = blend.shape
            h, w = blend.shape
            for item in (*self.items, self.overlay_item):
                item.setRect(QRectF(-0.5, -0.5, w, h))
            self.boxes[0].setRange(QRectF(-0.5, -0.5, w, h), padding=0.02)
        flux = ", ".join(f"{f:.4g}" for f in np.asarray(result.catalog["flux"])[:3])
        more = " …" if result.n_sources > 3 else ""
        tag = " · cached" if cached else ""
        self.caption.setText(f"<b>{self.name}</b> · {result.n_sources} source(s){tag} · "
                             f"flux {flux or '—'}{more} <span style='color:{COLORS['muted']}'>· "
                             f"{result.device}</span>", color=COLORS["text"], size="9pt")

    def set_message(self, text: str) -> None:
        """Clear the views and show ``text`` under the name (``"running…"``, an error, ...)."""
        if self.result is None and getattr(self, "_message", None) == text:
            return  # already shown: no repaint
        self._message = text
        self.result = None
        for item in self.items:
            item.clear()
        self.overlay_item.setVisible(False)
        self.caption.setText(f"<b>{self.name}</b> · <span style='color:{COLORS['muted']}'>{text}</span>",
                             color=COLORS["text"], size="9pt")

    def set_view_size(self, size: int) -> None:
        """Make each of the four views ``size`` pixels square (the panel fits its rows to its space)."""
        size = int(size)
        if size != self.view_size or self.height() != size + ROW_EXTRA:
            self.view_size = size
            self.setFixedHeight(size + ROW_EXTRA)
            self.updateGeometry()

    def caption_text(self) -> str:
        """The caption as plain-ish text (tests)."""
        return str(self.caption.text)

    def shown(self) -> list[np.ndarray | None]:
        """The raw arrays of the four views (``None`` where empty)."""
        return [item.image for item in self.items]

    # ------------------------------------------------------------------ private
    def _apply_lut(self) -> None:
        lut = self.display.lut()
        for item in self.items:
            item.setLookupTable(lut)

    def _apply_levels(self, lo: float, hi: float) -> None:
        for item in self.items:
            if item.image is not None:
                item.setLevels((lo, hi))

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt name)
        return QSize(4 * (self.view_size + 6), self.view_size + ROW_EXTRA)


class DeblendRows(QScrollArea):
    """The chosen deblenders' rows, one under the other, their views sized to fill the area (between
    :data:`MIN_VIEW` and :data:`MAX_VIEW` px a side; below that the area scrolls).

    ``rows`` maps a deblender name to its :class:`DeblendRow` (made on first use, then kept). Rows are made when
    the area is first shown or ``rows`` is first read, not while the app starts with the Deblend tab hidden (two
    rows of pyqtgraph views: ~30 ms of start-up); ``built_rows`` is what exists, without making any.
    ``on_built`` (if set) is called once pending rows have been made.
    """

    def __init__(self, display: DisplayModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.display = display
        self.built_rows: dict[str, DeblendRow] = {}
        self.on_built: Callable[[], None] | None = None
        self._pending: tuple[list[str], list[str]] | None = None
        self._made_for: list[str] = []
        self._shown: list[str] = []
        self._box = QVBoxLayout()
        self._box.setContentsMargins(0, 0, 0, 0)
        self._box.setSpacing(4)
        self._box.addStretch(1)
        holder = QWidget()
        holder.setLayout(self._box)
        self.setWidget(holder)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)

    @property
    def rows(self) -> dict[str, DeblendRow]:
        """Every row asked for so far (pending ones are made now)."""
        self.build()
        return self.built_rows

    def show_rows(self, names: list[str], order: list[str]) -> None:
        """Show the rows of ``names`` (made when new), in the order of ``order``; hide the others. While the
        area has never been shown the rows wait until it is (or until ``rows`` is read)."""
        self._made_for += [n for n in names if n not in self._made_for]  # each name asked for gets its row
        self._pending = (list(names), list(order))
        if self.isVisible():
            self.build()

    def build(self) -> None:
        """Make and order the pending rows (see :meth:`show_rows`)."""
        if self._pending is None:
            return
        (names, order), self._pending = self._pending, None
        rows = self.built_rows
        for name in self._made_for:
            if name not in rows:
                rows[name] = DeblendRow(name, self.display)
                self._box.insertWidget(self._box.count() - 1, rows[name])
        for i, name in enumerate(n for n in order if n in rows):
            self._box.removeWidget(rows[name])
            self._box.insertWidget(i, rows[name])
            rows[name].setVisible(name in names)
        self._shown = list(names)
        self.fit()
        if self.on_built is not None:
            self.on_built()

    def showEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        self.build()

    def fit(self) -> int:
        """Size the views so the shown rows fill the area; returns the side used."""
        viewport = self.viewport()
        n = max(1, len(self._shown))
        by_height = (viewport.height() - 4 * (n - 1)) // n - ROW_EXTRA
        by_width = (viewport.width() - 4) // 4 - 8
        size = max(MIN_VIEW, min(MAX_VIEW, by_height, by_width))
        for row in self.built_rows.values():
            row.set_view_size(size)
        return size

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().resizeEvent(event)
        self.fit()
