"""Blend editor: the blend with a draggable companion handle, its masks, both cleaned galaxies.

Dragging the handle sends live spec changes to the :class:`~.state.AppState`; the editor renders them
throttled (at most one frame per ``THROTTLE_MS``) and renders the exact final spec on release. All
pixels come from the core engine (:meth:`BlendEngine.render`, :meth:`BlendEngine.cleaned`).
"""

from __future__ import annotations

from typing import Callable

import pyqtgraph as pg
from PyQt6.QtCore import QTimer, pyqtSignal
from PyQt6.QtGui import QPainterPath
from PyQt6.QtWidgets import QGridLayout, QHBoxLayout, QVBoxLayout, QWidget

from ..core.blending.engine import Blend, BlendSpec
from ..core.blending.blend_metrics import BlendMetrics, blend_fillmask, blend_metrics
from ..core.display.stretch import MASK_COLORS, fill_overlay, mask_overlay
from .after_paint import AfterPaint
from .companion_controls import CompanionControls, MetricsBox
from .display_model import DisplayModel
from .image_view import StampView
from .state import AppState

__all__ = ["BlendEditor", "CompanionHandle", "THROTTLE_MS"]

#: Minimum interval between two live preview frames during a drag.
THROTTLE_MS = 16


def _handle_path() -> QPainterPath:
    path = QPainterPath()
    path.addEllipse(-0.5, -0.5, 1.0, 1.0)
    for x0, y0, x1, y1 in ((-0.8, 0, -0.2, 0), (0.2, 0, 0.8, 0), (0, -0.8, 0, -0.2), (0, 0.2, 0, 0.8)):
        path.moveTo(x0, y0)
        path.lineTo(x1, y1)
    return path


class CompanionHandle(pg.TargetItem):
    """Galaxy 2's centre on the blend view; drag it to move the companion.

    Signals
    -------
    moved(float, float, bool)
        New centre (view x, y) and whether the move is final (mouse released).
    """

    moved = pyqtSignal(float, float, bool)

    def __init__(self) -> None:
        color = MASK_COLORS[1]
        # a thin open ring (no fill): a faint companion under it stays visible
        super().__init__(pos=(0, 0), size=22, symbol=_handle_path(), pen=pg.mkPen((*color, 220), width=1.5),
                         hoverPen=pg.mkPen((255, 255, 255), width=2), brush=(0, 0, 0, 0),
                         hoverBrush=(*color, 50), movable=True)
        self.setZValue(30)
        self._quiet = False
        self.setToolTip("galaxy 2: drag to move it (sub-pixel); Shift+arrows nudge")
        self.sigPositionChanged.connect(self._changed)
        self.sigPositionChangeFinished.connect(self._finished)

    def place(self, x: float, y: float) -> None:
        """Move the marker without reporting it (the spec moved it)."""
        self._quiet = True
        try:
            self.setPos(x, y)
        finally:
            self._quiet = False

    def move_to(self, x: float, y: float, *, final: bool = True) -> None:
        """Move as a drag would: a live move, then a final one when ``final``."""
        self.setPos(x, y)
        if final:
            self.moved.emit(float(x), float(y), True)

    def _changed(self, *_args: object) -> None:
        if not self._quiet:
            p = self.pos()
            self.moved.emit(float(p.x()), float(p.y()), False)

    def _finished(self, *_args: object) -> None:
        if not self._quiet:
            p = self.pos()
            self.moved.emit(float(p.x()), float(p.y()), True)


class BlendEditor(QWidget):
    """Four linked views (blend, masks, galaxy 1, galaxy 2), companion controls and metrics."""

    rendered = pyqtSignal(object)  # the Blend just shown

    def __init__(self, state: AppState, display: DisplayModel,
                 on_error: Callable[[BaseException], None], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state, self.display, self.on_error = state, display, on_error
        self.blend_view = StampView("blend", "Blend", display)
        self.masks_view = StampView("masks", "Masks")
        self.g1_view = StampView("galaxy 1", "Galaxy 1 · cleaned", display)
        self.g2_view = StampView("galaxy 2", "Galaxy 2 · cleaned", display)
        self.views = (self.blend_view, self.masks_view, self.g1_view, self.g2_view)
        for v in self.views[1:]:
            v.link_to(self.blend_view)
        self.handle = CompanionHandle()
        self.centre_marker = pg.ScatterPlotItem(size=14, symbol="+", pen=pg.mkPen(MASK_COLORS[0], width=2),
                                                brush=None)
        self.centre_marker.setZValue(25)
        self.link_line = pg.PlotCurveItem(pen=pg.mkPen((230, 230, 230, 150), width=1,
                                                       style=pg.QtCore.Qt.PenStyle.DashLine))
        self.link_line.setZValue(20)
        for item in (self.link_line, self.centre_marker, self.handle):
            self.blend_view.vb.addItem(item)
        self._set_markers_visible(False)
        self.handle.moved.connect(self._handle_moved)

        self.controls = CompanionControls(state)
        self.metrics = MetricsBox()
        self.last_blend: Blend | None = None
        self._metrics: BlendMetrics | None = None
        self._metrics_stale = False
        # readouts (the metrics here, the levels histogram through the window) wait until the blend view
        # has painted the frame they describe
        self.after_paint = AfterPaint(self.blend_view.viewport())
        self.frames = 0  # frames rendered (live + final), for tests and benchmarks
        self._pending: BlendSpec | None = None
        self._shown_ids: tuple[int, int, int] | None = None
        self._levels_key: tuple | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(THROTTLE_MS)
        self._timer.timeout.connect(self._render_pending)

        grid = QGridLayout()
        grid.setSpacing(6)
        grid.addWidget(self.blend_view, 0, 0)
        grid.addWidget(self.masks_view, 0, 1)
        grid.addWidget(self.g1_view, 1, 0)
        grid.addWidget(self.g2_view, 1, 1)
        bottom = QHBoxLayout()
        bottom.setSpacing(8)
        bottom.addWidget(self.controls, 3)
        bottom.addWidget(self.metrics, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(8)
        layout.addLayout(grid, 1)
        layout.addLayout(bottom)

        state.specChanged.connect(self._spec_changed)
        state.stampsChanged.connect(self._stamps_changed)
        display.overlayChanged.connect(self._update_overlay)

    # ------------------------------------------------------------------ public
    def centre(self) -> tuple[float, float]:
        """View coordinates (x, y) of galaxy 1's centre (pixel ``(H // 2, W // 2)``)."""
        if self.state.stamps is None:
            return 0.0, 0.0
        cy, cx = self.state.stamps.center
        return float(cx), float(cy)

    def companion_position(self) -> tuple[float, float]:
        """View coordinates of the handle."""
        p = self.handle.pos()
        return float(p.x()), float(p.y())

    def fit(self) -> None:
        """Show the whole stamp in every (linked) view."""
        self.blend_view.fit()

    def one_to_one(self) -> None:
        """One image pixel per screen pixel."""
        self.blend_view.one_to_one()

    def zoom(self, factor: float) -> None:
        """Zoom all views about their centre."""
        self.blend_view.zoom(factor)

    @property
    def last_metrics(self) -> BlendMetrics | None:
        """Metrics of the blend shown (measured now if the readout has not caught up yet)."""
        self._show_metrics()
        return self._metrics

    def flush(self) -> None:
        """Render a pending live frame now, and its metrics readout (tests, screenshots)."""
        if self._timer.isActive():
            self._timer.stop()
            self._render_pending()
        self._show_metrics()

    def _show_metrics(self) -> None:
        if not self._metrics_stale:
            return
        self._metrics_stale = False
        self.after_paint.cancel("metrics")
        blend, stamps = self.last_blend, self.state.stamps
        if blend is None or stamps is None:
            return
        try:
            self._metrics = blend_metrics(blend, stamps)
        except (ValueError, KeyError) as exc:
            self._metrics = None
            self.on_error(exc)
        self.metrics.show_metrics(self._metrics)

    # ------------------------------------------------------------------ slots
    def _stamps_changed(self) -> None:
        self._shown_ids = self._levels_key = None
        self._pending = None
        self._timer.stop()
        for v in self.views:
            v.refit_next()

    def _handle_moved(self, x: float, y: float, final: bool) -> None:
        if self.state.spec is None:
            return
        cx, cy = self.centre()
        self.state.update_spec(dx=round(x - cx, 2), dy=round(y - cy, 2), final=final)

    def _spec_changed(self, spec: BlendSpec | None, final: bool) -> None:
        if spec is None:
            self._clear()
            return
        if not self.handle.moving:
            cx, cy = self.centre()
            self.handle.place(cx + spec.dx, cy + spec.dy)
        if final:
            self._timer.stop()
            self._pending = None
            self._render(spec, final=True)
        else:
            self._pending = spec
            if not self._timer.isActive():
                self._timer.start()

    def _render_pending(self) -> None:
        spec, self._pending = self._pending, None
        if spec is not None:
            self._render(spec, final=False)

    # ------------------------------------------------------------------ rendering
    def _render(self, spec: BlendSpec, *, final: bool) -> None:
        engine, stamps = self.state.engine, self.state.stamps
        if engine is None or stamps is None:
            return
        try:
            blend = engine.render(spec)
        except (ValueError, KeyError) as exc:
            self.on_error(exc)
            return
        self.last_blend, self._metrics, self._metrics_stale = blend, None, True
        self.after_paint.expect_paint()
        self.frames += 1
        # automatic levels follow the pair and its flux, not the offset: moving galaxy 2 keeps them
        # (no flicker, and only the blend and mask views repaint per frame)
        levels_key = (spec.id1, spec.id2, spec.seed, spec.flux_scale)
        recompute = final and levels_key != self._levels_key
        if recompute:
            self._levels_key = levels_key
        self.display.set_reference(blend.image, recompute=recompute)
        self.blend_view.set_image(blend.image)
        self._update_overlay()
        self.masks_view.set_rgba(mask_overlay(blend.masks, opacity=1.0))
        ids = (spec.id1, spec.id2, spec.seed)
        if ids != self._shown_ids:
            self._shown_ids = ids
            self.g1_view.set_image(engine.cleaned(spec.id1, spec.seed).image)
            self.g2_view.set_image(engine.cleaned(spec.id2, spec.seed).image)
            self.g1_view.set_title(f"Galaxy 1 · cleaned · <b>{spec.id1}</b>")
            self.g2_view.set_title(f"Galaxy 2 · cleaned · <b>{spec.id2}</b>")
        cx, cy = self.centre()
        x2, y2 = cx + spec.dx, cy + spec.dy
        self.centre_marker.setData([cx], [cy])
        self.link_line.setData([cx, x2], [cy, y2])
        self._set_markers_visible(True)
        self.blend_view.set_title(f"Blend · <b>{spec.id1}</b> + <b>{spec.id2}</b>")
        self.after_paint.call("metrics", self._show_metrics)   # the readout follows this frame's paint
        self.rendered.emit(blend)

    def _update_overlay(self) -> None:
        d = self.display
        self._update_fill()
        if self.last_blend is None or not d.mask_visible:
            self.blend_view.set_overlay(None)
            return
        self.blend_view.set_overlay(mask_overlay(self.last_blend.masks, opacity=d.mask_opacity,
                                                 outline=d.mask_outline))

    def fill_masks(self) -> tuple | None:
        """(blend, galaxy 1, galaxy 2) fill masks of the blend shown (``None`` without one).

        The blend's is where either layer holds no data (:func:`blend_fillmask`); the galaxies' are their
        stamps' own fill masks (all False when the data carry none).
        """
        blend, stamps = self.last_blend, self.state.stamps
        if blend is None or stamps is None:
            return None
        layers = blend_fillmask(stamps, blend.spec)
        own = [stamps.fill_of(stamps.index_of(i)) for i in (blend.spec.id1, blend.spec.id2)]
        return (layers[0] | layers[1], *[f if f is not None else layers[0] & False for f in own])

    def _update_fill(self) -> None:
        masks = self.fill_masks() if self.display.fill_visible else None
        views = (self.blend_view, self.g1_view, self.g2_view)
        for view, fill in zip(views, masks or (None, None, None)):
            view.set_fill(fill_overlay(fill) if fill is not None and fill.any() else None)

    def _clear(self) -> None:
        self._timer.stop()
        self._pending = None
        self.last_blend = self._metrics = None
        self._metrics_stale = False
        self.after_paint.cancel("metrics")
        self._shown_ids = self._levels_key = None
        for v in self.views:
            v.set_image(None)
            v.set_overlay(None)
        self._set_markers_visible(False)
        self.metrics.show_metrics(None)
        self.blend_view.set_title("Blend · pick two galaxies in the catalog, or a random pair (N)")

    def _set_markers_visible(self, visible: bool) -> None:
        for item in (self.handle, self.centre_marker, self.link_line):
            item.setVisible(visible)

