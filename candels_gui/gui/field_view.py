"""The Field tab: a deep field of any size, panned and zoomed without loading it; galaxies picked on it go to the
blend editor.

The field is a read-only memory map (:func:`~candels_gui.core.data.field_fits.read_field`); its multiresolution
pyramid (:mod:`~candels_gui.core.display.pyramid`) is built in the background by the window's task runner, and
each frame shows only the pixels of the visible rectangle at the screen's resolution (a padded block, so small
pans need no new read). Stretch and colormap are the Display panel's; the levels come from the display's
interval on the pyramid's coarsest level. *Detect in view* runs SEP (core) on the visible area; a click selects
the nearest detection, and *→ Galaxy 1* / *→ Galaxy 2* cut its stamp (core's
:func:`~candels_gui.core.data.field_stamps.stamps_at`) and open the picked galaxies in the editor.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QRectF, Qt, QTimer, pyqtSignal
from PyQt6.QtWidgets import (QFileDialog, QHBoxLayout, QLabel, QMainWindow, QPushButton, QSizePolicy, QVBoxLayout,
                             QWidget)

from ..core.data.field_fits import FieldImage, read_field
from ..core.errors import DataError
from ..core.display.stretch import display_levels
from .field_tiles import TiledImage
from .places import remember_folder, start_folder, window_settings
from .style import COLORS, configure_pyqtgraph

__all__ = ["FieldView", "install_field_view", "DETECT_MAX_PIXELS"]

#: Largest visible area (pixels) *Detect in view* works on.
DETECT_MAX_PIXELS = 4096 * 4096


def read_shown_field(path: str | os.PathLike, band: Optional[int] = None) -> tuple[FieldImage, bool]:
    """The field the tab shows: ``path`` (memory-mapped), a cube's plane ``band``, or without one its first
    plane; returns ``(field, whether a cube's first plane was taken)``. Raises the core's one-line DataError."""
    try:
        return read_field(path, band=band, allow_cube=False), False
    except DataError as exc:
        if "cube" not in str(exc) or band is not None:
            raise
        return read_field(path, band=0), True


class FieldView(QWidget):
    """The Field tab's widget.

    Parameters
    ----------
    display : DisplayModel
        Stretch, interval and colormap (the Display panel's).
    tasks : TaskRunner
        Runs the pyramid build, detection and generation in the background.
    send : callable, optional
        ``send(stampset, ids)``: open the picked galaxies (a StampSet, galaxy 1 and 2 IDs) in the editor.
    on_error, status : callable, optional
        ``on_error(title, exc)``, ``status(text, msecs)``.

    Signals
    -------
    fieldOpened(str)
        A field is shown (its path); its pyramid may still be building.
    frameShown()
        A new block of pixels was put on screen.
    """

    fieldOpened = pyqtSignal(str)
    frameShown = pyqtSignal()

    def __init__(self, display: Any, tasks: Any, *, send: Optional[Callable[[Any, list[int]], None]] = None,
                 on_error: Optional[Callable[..., None]] = None, status: Optional[Callable[[str, int], None]] = None,
                 parent: Optional[QWidget] = None) -> None:
        configure_pyqtgraph()
        super().__init__(parent)
        self.display, self.tasks = display, tasks
        self.send, self.on_error = send, on_error or (lambda title, exc: None)
        self.status = status or (lambda text, msecs=0: None)
        self.field: Optional[FieldImage] = None
        self.pyramid: Any = None
        self.levels: Optional[tuple[float, float]] = None
        self.detections: Any = None
        self.usable: Any = None   # per detection: can a stamp be cut around it (not too near the edge)
        self.selected: Optional[tuple[float, float]] = None
        self.picked: dict[int, tuple[float, float]] = {}
        self._pyramid_task: Any = None

        self.open_button = QPushButton("Open field…")
        self.generate_button = QPushButton("Generate field…")
        self.detect_button = QPushButton("Detect in view")
        self.send1_button = QPushButton("→ Galaxy 1")
        self.send2_button = QPushButton("→ Galaxy 2")
        for b in (self.detect_button, self.send1_button, self.send2_button):
            b.setEnabled(False)
        self.info = QLabel("No field open: Open field… or Generate field…")
        # the label gives way (clipped) rather than widening the window: the other tabs fit in less
        self.info.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.readout = QLabel("")
        for label in (self.info, self.readout):   # long texts wrap or clip: they never widen the window
            label.setWordWrap(True)
            label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        top = QHBoxLayout()
        for w in (self.open_button, self.generate_button, self.detect_button, self.send1_button, self.send2_button):
            top.addWidget(w)
        top.addStretch(1)
        self.graphics = pg.GraphicsLayoutWidget()
        self.vb: pg.ViewBox = self.graphics.addViewBox(lockAspect=True, enableMenu=False)
        self.vb.setBackgroundColor(COLORS["view"])
        self.layer = TiledImage(self.vb)
        self._usable_pen = pg.mkPen((240, 228, 66), width=1.5)
        self._edge_pen = pg.mkPen((235, 90, 90), width=1.2, style=Qt.PenStyle.DashLine)   # cannot be cut
        self.marks = pg.ScatterPlotItem(pxMode=False, brush=None, pen=self._usable_pen)
        self.marks.setZValue(5)
        self.vb.addItem(self.marks)
        self.picks = pg.ScatterPlotItem(pxMode=True, size=22, brush=None, symbol="s",
                                        pen=pg.mkPen((230, 110, 20), width=2))
        self.picks.setZValue(6)
        self.vb.addItem(self.picks)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.info)   # its own row: a file name and size never squeezed beside the buttons
        layout.addWidget(self.graphics, 1)
        layout.addWidget(self.readout)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self.refresh)
        self._load_timer = QTimer(self)
        self._load_timer.setSingleShot(True)
        self._load_timer.setInterval(0)
        self._load_timer.timeout.connect(self._load_step)
        self.vb.sigRangeChanged.connect(lambda *_: self._timer.start())
        self.vb.sigResized.connect(lambda *_: self._timer.start())
        self.graphics.scene().sigMouseClicked.connect(self._clicked)
        self.graphics.scene().sigMouseMoved.connect(self._moved)
        self.open_button.clicked.connect(self.open_dialog)
        self.generate_button.clicked.connect(self.generate_dialog)
        self.detect_button.clicked.connect(self.detect_in_view)
        self.send1_button.clicked.connect(lambda: self.send_selected(1))
        self.send2_button.clicked.connect(lambda: self.send_selected(2))
        display.lutChanged.connect(self._apply_lut)
        display.settingsChanged.connect(self._update_levels)
        self._apply_lut()

    # ------------------------------------------------------------------ opening
    def open_dialog(self) -> None:
        start = start_folder(window_settings(self), self.field.path if self.field is not None else None)
        path, _ = QFileDialog.getOpenFileName(self, "Open a field", str(start),
                                              "FITS images (*.fits *.fit *.fts);;All files (*)")
        if path:
            remember_folder(window_settings(self), path)
            self.open_field(path)

    def open_field(self, path: str | os.PathLike, *, band: Optional[int] = None) -> None:
        """Show the FITS field at ``path`` (memory-mapped); its pyramid is built in the background."""
        from ..core.display.pyramid import FieldPyramid, build_pyramid_job

        try:
            f, first_plane = read_shown_field(path, band)
        except Exception as exc:  # noqa: BLE001 - reported in the dialog, as the core says it
            self.on_error("Cannot open the field", exc)
            return
        if first_plane:
            self.status(f"{Path(path).name} is a cube: showing its first plane", 6000)
        self._close_pyramid()
        self.field = f
        self.detections, self.selected, self.picked = None, None, {}
        self.marks.setData([])
        self.picks.setData([])
        self.layer.clear_tiles()
        self.pyramid = FieldPyramid([f.data])
        h, w = f.shape
        step = max(1, int(np.ceil(max(h, w) / 1024)))
        self.layer.set_pyramid(self.pyramid, np.asarray(f.data[::step, ::step], np.float32),
                               (0.0, 0.0, float(-(-h // step) * step), float(-(-w // step) * step)))
        self.info.setText(f"{f.path.name} · {w:,}×{h:,} px · building the pyramid…")
        self.detect_button.setEnabled(True)
        self.send1_button.setEnabled(False)
        self.send2_button.setEnabled(False)
        self._update_levels()
        self.fit()
        self.fieldOpened.emit(str(f.path))

        def done(pyr: Any) -> None:
            if self.field is not f:
                pyr.close()
                return
            self.pyramid = pyr
            self.layer.set_pyramid(pyr)
            self.info.setText(f"{f.path.name} · {w:,}×{h:,} px · {len(pyr.levels)} level(s)")
            self._update_levels()
            self.refresh()

        self._pyramid_task = self.tasks.run_job(
            f"Pyramid of {f.path.name}", lambda token: build_pyramid_job(f.data, cancel=token), on_result=done,
            on_error=lambda exc: self.on_error("Cannot build the field's pyramid", exc),
            on_cancel=lambda: self.info.setText(f"{f.path.name} · {w:,}×{h:,} px · pyramid cancelled "
                                                "(zoomed-out views read the full field)"))

    def _close_pyramid(self) -> None:
        if self._pyramid_task is not None and not self._pyramid_task.done:
            self._pyramid_task.cancel()
        if self.pyramid is not None:
            self.pyramid.close()
        self.pyramid = None

    def closeEvent(self, event: Any) -> None:  # noqa: N802 (Qt name)
        self._close_pyramid()
        super().closeEvent(event)

    # ------------------------------------------------------------------ display
    def fit(self) -> None:
        """Show the whole field."""
        if self.field is not None:
            h, w = self.field.shape
            self.vb.setRange(QRectF(-0.5, -0.5, w, h), padding=0.02)

    def screen_size(self) -> tuple[int, int]:
        """The view's size in device pixels (rows, columns)."""
        r = self.vb.sceneBoundingRect()
        ratio = self.devicePixelRatioF()
        return max(1, int(r.height() * ratio)), max(1, int(r.width() * ratio))

    def visible_rect(self) -> tuple[float, float, float, float]:
        """Rows ``r0:r1`` and columns ``c0:c1`` of the field in view (level-0 pixels, may pass the edges)."""
        (x0, x1), (y0, y1) = self.vb.viewRange()
        return y0 + 0.5, y1 + 0.5, x0 + 0.5, x1 + 0.5

    def refresh(self) -> None:
        """Show the tiles of the visible rectangle at the screen's resolution: those loaded at once, the others a
        few per event-loop turn (the coarse overview shows meanwhile)."""
        if self.field is None or self.pyramid is None:
            return
        r0, r1, c0, c1 = self.visible_rect()
        self.layer.update(r0, r1, c0, c1, self.screen_size())
        self._load_step()

    def _load_step(self) -> None:
        self.layer.load_some()
        if self.layer.pending:
            self._load_timer.start()
        self.frameShown.emit()

    def _apply_lut(self) -> None:
        self.layer.set_display(self.levels or (0.0, 1.0), self.display.lut())

    def _update_levels(self) -> None:
        if self.pyramid is None:
            return
        top = self.pyramid.top if len(self.pyramid.levels) > 1 or max(self.pyramid.shape) <= 4096 else None
        if top is None:  # no pyramid yet on a large field: a sub-grid of it
            data = self.pyramid.levels[0]
            step = max(1, max(data.shape) // 1024)
            top = np.asarray(data[::step, ::step], np.float32)
        finite = top[np.isfinite(top)]
        if finite.size == 0:
            return
        self.levels = display_levels(finite.reshape(1, -1), self.display.settings.interval_obj())
        if not self.levels[1] > self.levels[0]:
            self.levels = (float(self.levels[0]), float(self.levels[0]) + 1.0)
        self.layer.set_display(self.levels, self.display.lut())

    # ------------------------------------------------------------------ picking
    def _moved(self, pos: Any) -> None:
        if self.field is None or not self.vb.sceneBoundingRect().contains(pos):
            return
        p = self.vb.mapSceneToView(pos)
        col, row = int(np.floor(p.x() + 0.5)), int(np.floor(p.y() + 0.5))
        h, w = self.field.shape
        if 0 <= row < h and 0 <= col < w:
            self.readout.setText(f"x {col:7d}  y {row:7d}   value {float(self.field.data[row, col]): .5g}")

    def detect_in_view(self) -> None:
        """Detect sources (SEP, core) on the visible area at full resolution, in the background."""
        if self.field is None:
            return
        from ..core.data.field_detect import detect_tile, iter_tiles

        h, w = self.field.shape
        r0, r1, c0, c1 = self.visible_rect()
        a0, a1 = max(0, int(r0)), min(h, int(np.ceil(r1)))
        b0, b1 = max(0, int(c0)), min(w, int(np.ceil(c1)))
        if (a1 - a0) * (b1 - b0) > DETECT_MAX_PIXELS:
            self.status("Zoom in to detect: the view must hold at most 4096 × 4096 pixels", 6000)
            return
        if a1 - a0 < 16 or b1 - b0 < 16:
            return
        sub = self.field.data

        def work() -> Any:
            tile = next(iter_tiles(sub[a0:a1, b0:b1], tile=max(a1 - a0, b1 - b0), overlap=0))
            cat, _ = detect_tile(tile, self.detection_settings())
            cat["x"] = np.asarray(cat["x"], float) + b0
            cat["y"] = np.asarray(cat["y"], float) + a0
            return cat

        self.tasks.run_call("Detecting sources", work, on_result=self._show_detections,
                            on_error=lambda exc: self.on_error("Detection failed", exc))

    def detection_settings(self) -> Any:
        """SEP's settings for this field (its header's zeropoint, when it has one)."""
        from ..core.data.field_detect import DetectionSettings

        zp = self.field.zeropoint if self.field is not None else None
        return DetectionSettings(zeropoint=zp if zp is not None else 25.96)

    def _show_detections(self, cat: Any) -> None:
        self.detections = cat
        if len(cat) == 0:
            self.marks.setData([])
            self.status("No source detected in view", 4000)
            return
        from ..core.data.field_stamps import cuttable

        size = 2 * np.clip(2.0 * np.asarray(cat["flux_radius"], float), 3, 60)
        xs, ys = np.asarray(cat["x"], float), np.asarray(cat["y"], float)
        self.usable = cuttable(self.field.shape, xs, ys) if self.field is not None else np.ones(len(cat), bool)
        pens = [self._usable_pen if ok else self._edge_pen for ok in self.usable]   # no stamp can be cut: red, dashed
        self.marks.setData(x=xs, y=ys, size=size, pen=pens)
        edge = int((~self.usable).sum())
        note = f"; {edge} too near the field's edge to cut (red, dashed)" if edge else ""
        self.status(f"{len(cat)} sources detected in view: click one, then → Galaxy 1 / → Galaxy 2{note}", 8000)

    def select_at(self, x: float, y: float, *, radius: float = 12.0) -> Optional[tuple[float, float]]:
        """Select the detection nearest field position ``(x, y)`` (within ``radius`` screen pixels)."""
        if self.detections is None or len(self.detections) == 0:
            return None
        xs, ys = np.asarray(self.detections["x"], float), np.asarray(self.detections["y"], float)
        d = np.hypot(xs - x, ys - y)
        i = int(np.argmin(d))
        r0, r1, _, _ = self.visible_rect()
        per_px = (r1 - r0) / max(self.screen_size()[0], 1)
        if d[i] > max(radius * per_px, 3.0 + 2 * float(self.detections["flux_radius"][i])):
            return None
        self.selected = (float(xs[i]), float(ys[i]))
        self._show_picks()
        usable = bool(self.usable[i])   # set with the detections
        self.send1_button.setEnabled(usable)
        self.send2_button.setEnabled(usable)
        mag = float(self.detections["mag"][i])
        self.status(f"Source at x {xs[i]:.1f}, y {ys[i]:.1f}: mag {mag:.2f}, "
                    f"radius {float(self.detections['flux_radius'][i]):.2f} px"
                    + ("" if usable else ": too near the field's edge to cut a 128 px stamp"), 6000)
        return self.selected

    def _clicked(self, event: Any) -> None:
        if event.button() != Qt.MouseButton.LeftButton or self.field is None:
            return
        if not self.vb.sceneBoundingRect().contains(event.scenePos()):
            return
        p = self.vb.mapSceneToView(event.scenePos())
        self.select_at(p.x(), p.y())

    def _show_picks(self) -> None:
        pts = [dict(pos=self.selected, symbol="o", size=26)] if self.selected else []
        pts += [dict(pos=p, symbol="s", size=22) for p in self.picked.values()]
        self.picks.setData(pts)

    def send_selected(self, which: int) -> Any:
        """Make the selected source galaxy ``which`` (1 or 2) of the editor: the stamps of the picked sources
        become the editor's data (a StampSet cut by core). Returns that StampSet, or None."""
        if self.field is None or self.selected is None:
            return None
        from ..core.data.field_stamps import stamps_at

        self.picked[which] = self.selected
        order = sorted(self.picked)
        try:
            stamps = stamps_at(self.field.data, [self.picked[k] for k in order], source=str(self.field.path),
                               pixel_scale=self.field.pixel_scale, settings=self.detection_settings())
        except Exception as exc:  # noqa: BLE001 - the core's message, in a dialog
            del self.picked[which]
            self.on_error("Cannot cut this galaxy", exc)
            return None
        self._show_picks()
        ids = [int(stamps.catalog["id"][order.index(k)]) if k in order else 0 for k in (1, 2)]
        if self.send is not None:
            self.send(stamps, ids)
        return stamps

    def generate_dialog(self) -> None:
        from .field_dialogs import GenerateFieldDialog

        dialog = GenerateFieldDialog(self.tasks, on_done=self.open_field, on_error=self.on_error, parent=self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        self._dialog = dialog

    # ------------------------------------------------------------------ measuring
    def frame_times(self, rects: list[tuple[float, float, float, float]]) -> tuple[list[float], list[float]]:
        """Frame times of showing each view rectangle ``(x, y, width, height)`` in turn (for ``bench``).

        Returns
        -------
        frames : list of float
            Milliseconds of every frame: the one that moves the view (tiles already loaded shown, a first few new
            ones loaded, the view repainted) and each following one that loads more tiles, until all are loaded.
        settle : list of float
            Milliseconds from each move until the view is at full resolution.
        """
        from PyQt6.QtWidgets import QApplication

        if self.field is None:
            raise ValueError("no field is open")
        frames, settle = [], []
        for x0, y0, vw, vh in rects:
            t0 = time.perf_counter()
            self.vb.setRange(QRectF(x0, y0, vw, vh), padding=0)
            self._timer.stop()
            self.refresh()
            self._load_timer.stop()
            self.graphics.viewport().repaint()
            frames.append((time.perf_counter() - t0) * 1e3)
            while self.layer.pending:
                t1 = time.perf_counter()
                self.layer.load_some()
                self.graphics.viewport().repaint()
                frames.append((time.perf_counter() - t1) * 1e3)
            QApplication.processEvents()
            settle.append((time.perf_counter() - t0) * 1e3)
        return frames, settle


def install_field_view(window: QMainWindow) -> FieldView:
    """Add a Field tab to ``window``'s central tabs (after :func:`~.compare_view.install_compare_view`).

    Picked galaxies replace the window's data (after the session controller's unsaved-queue question) and
    the Editor tab is shown with them as galaxy 1 and 2.
    """
    w: Any = window

    def send(stamps: Any, ids: list[int]) -> None:
        if not w.session_ctl.confirm_discard("Use galaxies picked on the field"):
            return
        w.source_path = None
        w.set_stamps(stamps, random_pair=False)
        for which, gid in zip((1, 2), ids):
            if gid:
                w.state.pick_galaxy(which, gid)
        if len(ids) == 2 and all(ids):
            w.central_tabs.setCurrentIndex(0)
        w.show_status(f"Field galaxies: galaxy 1 = {'ID ' + str(ids[0]) if ids[0] else '—'}, "
                      f"galaxy 2 = {'ID ' + str(ids[1]) if ids[1] else '—'}", 6000)

    view = FieldView(w.display, w.tasks, send=send, on_error=w.show_error, status=w.show_status)
    w.central_tabs.addTab(view, "Field")
    w.field_view = view
    return view
