"""A field shown as tiles of its pyramid on a pyqtgraph ViewBox, loaded a few at a time (as napari and map viewers
do), so that no frame waits for more than a few tiles, whatever the field's size and the zoom.

Under the tiles lies the pyramid's coarsest level, the whole field at low resolution, so a part of the view whose
tiles are not loaded yet shows that rather than nothing. :meth:`TiledImage.update` picks the level for the view
(core's :meth:`~candels_gui.core.display.pyramid.FieldPyramid.level_for_view`) and the tiles that cover it (nearest
the centre first), shows those already loaded and queues the others; :meth:`TiledImage.load_some` loads queued
tiles until a time budget is spent. Loaded tiles are kept (the :data:`MAX_TILES` most recent) for pans back.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any, Optional

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QRectF

__all__ = ["TiledImage", "MAX_TILES", "BUDGET_S"]

#: Tiles kept loaded (256² float32 + its picture: 0.5 MB each).
MAX_TILES = 192
#: Time a frame may spend loading tiles (at least one tile is loaded per call).
BUDGET_S = 0.008


class TiledImage:
    """The tiles of a :class:`~candels_gui.core.display.pyramid.FieldPyramid` on ``vb``."""

    def __init__(self, vb: pg.ViewBox) -> None:
        self.vb = vb
        self.pyramid: Any = None
        self.overview = pg.ImageItem(axisOrder="row-major")
        self.overview.setZValue(-1)
        vb.addItem(self.overview)
        self.tiles: "OrderedDict[tuple[int, int, int], pg.ImageItem]" = OrderedDict()
        self.pending: list[tuple[int, int, int]] = []
        self.level = 0
        self.levels: tuple[float, float] = (0.0, 1.0)
        self.lut: Optional[np.ndarray] = None

    # ------------------------------------------------------------------ content
    def set_pyramid(self, pyramid: Any, overview: Optional[np.ndarray] = None,
                    overview_rect: Optional[tuple[float, float, float, float]] = None) -> None:
        """Show ``pyramid`` (forgets every tile). ``overview`` (with its level-0 rectangle ``(row, col, h, w)``)
        replaces the coarsest level under the tiles, e.g. a sub-grid while the pyramid is still being built."""
        self.clear_tiles()
        self.pyramid = pyramid
        if pyramid is None:
            self.overview.clear()
            return
        if overview is None:
            overview = pyramid.top
            h, w = pyramid.shape
            s = 2 ** (len(pyramid.levels) - 1)
            overview_rect = (0.0, 0.0, overview.shape[0] * s, overview.shape[1] * s)
        rows, cols = overview.shape
        y, x, hh, ww = overview_rect if overview_rect is not None else (0.0, 0.0, rows, cols)
        self._show(self.overview, np.ascontiguousarray(overview, np.float32), (y, x, hh, ww))

    def clear_tiles(self) -> None:
        for item in self.tiles.values():
            self.vb.removeItem(item)
        self.tiles.clear()
        self.pending = []

    def set_display(self, levels: tuple[float, float], lut: Optional[np.ndarray]) -> None:
        """New levels and lookup table for every tile (their pictures are redrawn at the next paint)."""
        if lut is not None and lut.ndim == 2 and lut.shape[1] == 4 and np.all(lut[:, 3] == 255):
            lut = np.ascontiguousarray(lut[:, :3])   # opaque: an RGB picture draws without alpha blending
        self.levels, self.lut = levels, lut
        for item in (self.overview, *self.tiles.values()):
            if lut is not None:
                item.setLookupTable(lut)
            item.setLevels(levels)

    def _show(self, item: pg.ImageItem, block: np.ndarray, rect: tuple[float, float, float, float]) -> None:
        if self.lut is not None:
            item.setLookupTable(self.lut)
        item.setImage(block, autoLevels=False, levels=self.levels)
        y, x, h, w = rect
        item.setRect(QRectF(x - 0.5, y - 0.5, w, h))

    # ------------------------------------------------------------------ view
    def update(self, r0: float, r1: float, c0: float, c1: float, screen: tuple[int, int]) -> None:
        """The view now shows level-0 rows ``r0:r1``, columns ``c0:c1`` on ``screen`` pixels: show the loaded
        tiles of its level that cover it, queue the missing ones (nearest the centre first)."""
        if self.pyramid is None:
            return
        k = self.pyramid.level_for_view(r0, r1, c0, c1, screen)
        needed = self.pyramid.tiles_for(k, r0, r1, c0, c1)
        wanted = set(needed)
        self.level = k
        for key, item in self.tiles.items():
            item.setVisible(key in wanted)
        for key in needed:
            if key in self.tiles:
                self.tiles.move_to_end(key)
        self.pending = [key for key in needed if key not in self.tiles]
        self.overview.setVisible(bool(self.pending) or len(needed) > MAX_TILES)
        if len(needed) > MAX_TILES:     # only the full field is there yet (pyramid building): the overview
            self.pending = []
            for item in self.tiles.values():
                item.setVisible(False)

    def load_some(self, budget_s: float = BUDGET_S) -> int:
        """Load queued tiles until ``budget_s`` is spent (one at least); returns how many were loaded."""
        t0 = time.perf_counter()
        n = 0
        while self.pending and (n == 0 or time.perf_counter() - t0 < budget_s):
            key = self.pending.pop(0)
            block, rect = self.pyramid.tile(*key)
            item = pg.ImageItem(axisOrder="row-major")
            self.vb.addItem(item)
            self._show(item, block, rect)
            item.render()            # the picture now, inside the budget, not at the next paint
            self.tiles[key] = item
            n += 1
        if not self.pending:
            self.overview.setVisible(False)     # the tiles cover the view: no need to draw what lies under
        while len(self.tiles) > MAX_TILES:
            key, item = next(iter(self.tiles.items()))
            if item.isVisible():
                break
            self.vb.removeItem(item)
            del self.tiles[key]
        return n

    def visible_tiles(self) -> list[tuple[tuple[int, int, int], np.ndarray]]:
        """The shown tiles and their pixels (for tests and readouts)."""
        return [(key, item.image) for key, item in self.tiles.items() if item.isVisible()]
