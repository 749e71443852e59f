"""The Field tab's frame time, for ``candels-gui bench --only fields`` (run in a child process).

:func:`field_frame_times` opens a field in a :class:`~.field_view.FieldView` of 1600 x 1000 pixels (offscreen
when there is no display), waits for its pyramid, and times frames: each is a change of the view (a jump to a
random place at one field pixel per screen pixel; a drag-like pan of a tenth of the view; a zoom step)
followed by the new pixels read, shown and the view repainted.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

__all__ = ["field_frame_times"]


def _percentiles(ms: list[float]) -> tuple[float, float]:
    return round(float(np.percentile(ms, 50)), 2), round(float(np.percentile(ms, 95)), 2)


def field_frame_times(path: str, n: int = 60) -> dict[str, Any]:
    """p50 / p95 frame times (ms) of the Field tab on the field at ``path`` (see the module docstring)."""
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PyQt6.QtCore import QRectF
    from PyQt6.QtWidgets import QApplication

    from .display_model import DisplayModel
    from .field_view import FieldView
    from .launch import make_app
    from .workers import TaskRunner

    app = make_app()
    tasks = TaskRunner()
    view = FieldView(DisplayModel(), tasks)
    view.resize(1600, 1000)
    view.show()
    t0 = time.perf_counter()
    view.open_field(path)
    while tasks.busy:
        app.processEvents()
        time.sleep(0.005)
    pyramid_s = time.perf_counter() - t0
    for _ in range(5):
        QApplication.processEvents()
    jumps = view.frame_times(n)
    h, w = view.field.shape
    sh, sw = view.screen_size()
    pans, zooms = [], []
    x0, y0 = w / 2 - sw, h / 2 - sh / 2
    for i in range(n):                          # a drag: a tenth of the view per frame
        t = time.perf_counter()
        view.vb.setRange(QRectF(x0 + i * sw / 10, y0, sw, sh), padding=0)
        view.refresh()
        view.graphics.viewport().repaint()
        app.processEvents()
        pans.append((time.perf_counter() - t) * 1e3)
    for i in range(n):                          # zoom out from 1:1 to the whole field and back
        f = 2 ** (np.log2(w / sw) * (i % 20) / 19)
        t = time.perf_counter()
        view.vb.setRange(QRectF(w / 2 - f * sw / 2, h / 2 - f * sh / 2, f * sw, f * sh), padding=0)
        view.refresh()
        view.graphics.viewport().repaint()
        app.processEvents()
        zooms.append((time.perf_counter() - t) * 1e3)
    view._close_pyramid()
    view.close()
    jp50, jp95 = _percentiles(jumps)
    pp50, pp95 = _percentiles(pans)
    zp50, zp95 = _percentiles(zooms)
    return {"field_view_jump_p50_ms": jp50, "field_view_jump_p95_ms": jp95,
            "field_view_pan_p50_ms": pp50, "field_view_pan_p95_ms": pp95,
            "field_view_zoom_p50_ms": zp50, "field_view_zoom_p95_ms": zp95,
            "field_view_pyramid_s": round(pyramid_s, 1), "field_view_size": [int(h), int(w)]}
