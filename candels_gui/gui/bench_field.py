"""The Field tab's frame time, for ``candels-gui bench --only fields`` (run in a child process).

:func:`field_frame_times` opens a field in a :class:`~.field_view.FieldView` of 1600 x 1000 pixels (offscreen
when there is no display), waits for its pyramid, and times frames of three kinds of view changes: a drag (the view
moved by a tenth of its width per frame, one field pixel per screen pixel), jumps to random places at that zoom, and
zooming out from 1:1 to the whole field and back. A frame is a change of the view, the tiles already loaded shown and
a time-budgeted few new ones loaded, and the view repainted, or a following event-loop turn that loads more tiles
(the coarse overview shows meanwhile); ``*_settle_*`` is the time until the view is at full resolution.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

__all__ = ["field_frame_times"]


def _p(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 2)


def field_frame_times(path: str, n: int = 60) -> dict[str, Any]:
    """Frame times (ms, p50 / p95) of the Field tab on the field at ``path`` (see the module docstring)."""
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
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
        app.processEvents()
    h, w = view.field.shape
    sh, sw = view.screen_size()
    rng = np.random.default_rng(0)
    drag = [(w / 2 - sw + i * sw / 10, h / 2 - sh / 2, sw, sh) for i in range(n)]
    jumps = [(float(rng.uniform(0, w - sw)), float(rng.uniform(0, h - sh)), sw, sh) for _ in range(n)]
    zooms = []
    for i in range(n):
        f = 2 ** (np.log2(max(w / sw, h / sh)) * (1 - abs((i % 40) - 20) / 20))
        zooms.append((w / 2 - f * sw / 2, h / 2 - f * sh / 2, f * sw, f * sh))
    out: dict[str, Any] = {}
    view.frame_times(drag[:5])                      # warm-up
    for name, rects in (("pan", drag), ("jump", jumps), ("zoom", zooms)):
        frames, settle = view.frame_times(rects)
        out.update({f"field_view_{name}_p50_ms": _p(frames, 50), f"field_view_{name}_p95_ms": _p(frames, 95),
                    f"field_view_{name}_settle_p50_ms": _p(settle, 50)})
    view._close_pyramid()
    view.close()
    out.update({"field_view_pyramid_s": round(pyramid_s, 1), "field_view_size": [int(h), int(w)]})
    return out
