"""GUI benchmark groups for ``candels-gui bench``: ``preview``, ``export_ui`` and ``startup``.

Importing this module registers the groups with :func:`candels_gui.bench.register` (``bench`` imports it
when PyQt6 is available). Every figure is measured on a real :class:`~.app.MainWindow` (offscreen when
there is no display), never estimated:

* ``preview`` — offset change → stretched frame painted, through the same path a drag's release takes
  (the companion handle's final move → :meth:`AppState.update_spec` → the editor's exact render), then the
  paint forced by the event loop; the clock stops when the blend view's viewport has received its paint
  event. p50/p95 in ms at the sample data's 128 px stamps and at 512 px stamps.
* ``export_ui`` — the longest gap between two ticks of a 5 ms UI-thread timer while
  :func:`~candels_gui.core.store.export.export` writes ``n`` blends to HDF5 in the app's worker
  (:class:`~.workers.TaskRunner`), and the blends/s of that export. The task runner's workers are loaded
  first, as the app's opening of its data loads them.
* ``startup`` — ``python -m candels_gui.cli`` in a fresh process until the main window is shown with
  its first blend (``CANDELS_GUI_EXIT_WHEN_SHOWN``, see :func:`~.launch.run_app`); median of 3 runs after an
  untimed one (bytecode written, as an installed app has it).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..bench import register

__all__ = ["bench_preview", "bench_export_ui", "bench_startup", "upsampled_stampset", "preview_latencies"]

Log = Callable[[str], None] | None
ROOT = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------- helpers
def _app():
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from .launch import make_app

    return make_app()


def _window(stamps, tmp: str, *, settle: bool = False, morphology: bool = True):
    """A shown main window on ``stamps`` with throw-away settings (the user's are never touched); with ``settle``,
    after the app has settled its garbage collector, as it has before a user's first action. ``morphology=False``:
    without the automatic classification and statmorph measurement of newly opened data (child processes that
    take both cores for the first seconds), for figures of the app's steady state."""
    from PyQt6.QtCore import QSettings
    from PyQt6.QtWidgets import QApplication

    from .app import MainWindow

    settings = QSettings(str(Path(tmp) / "bench.ini"), QSettings.Format.IniFormat)
    window = MainWindow(stamps, settings=settings)
    if not morphology:
        window.morphology.stop_automatic()   # its start waits AUTO_DELAY_MS after the data opened
    window.resize(1600, 1000)
    window.show()
    for _ in range(5):
        QApplication.processEvents()
    if settle:  # the collector settles CollectorSettler.DELAY_MS after the data shows
        deadline = time.perf_counter() + (window.collector.DELAY_MS + 200) / 1e3
        while time.perf_counter() < deadline:
            QApplication.processEvents()
    return window


def _close(window) -> None:
    from PyQt6.QtCore import QEvent
    from PyQt6.QtWidgets import QApplication

    window.tasks.cancel_all()
    window.tasks.wait(10_000)
    window.close()
    window.deleteLater()
    QApplication.processEvents()
    # destroyed now, not in the next group's event loop (a main window's thousands of items take ~0.1 s to go,
    # which the next group would time as a stall of its own)
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)


def _quiet_offscreen(previous):
    """A Qt message handler that drops the offscreen plugin's propagateSizeHints notes."""
    def handler(mode, context, message: str) -> None:
        if "propagateSizeHints" in message:
            return
        if previous is not None:
            previous(mode, context, message)
        else:
            print(message, file=sys.stderr)
    return handler


def upsampled_stampset(stamps, factor: int = 4):
    """``stamps`` with every stamp enlarged ``factor`` times (nearest neighbour), radii scaled to match.

    Images keep their surface brightness per pixel (flux grows with the area, as a finer-sampled or
    nearer galaxy would); segmentation maps keep their labels.

    Parameters
    ----------
    stamps : StampSet
    factor : int
        Integer enlargement (4 turns 128 px stamps into 512 px ones).

    Returns
    -------
    StampSet

    Examples
    --------
    >>> big = upsampled_stampset(load_stampset(sample_data_dir()).subset(slice(0, 12)))  # doctest: +SKIP
    >>> big.stamp_shape                                                                    # doctest: +SKIP
    (512, 512)
    """
    from ..core.data.stampset import StampSet

    if int(factor) < 1:
        raise ValueError(f"factor must be a positive integer, got {factor}")
    f = int(factor)
    images = np.ascontiguousarray(np.repeat(np.repeat(np.asarray(stamps.images), f, 1), f, 2),
                                  dtype=np.float32)
    segmaps = np.ascontiguousarray(np.repeat(np.repeat(np.asarray(stamps.segmaps), f, 1), f, 2),
                                   dtype=np.int32)
    catalog = stamps.catalog.copy()
    catalog["radius"] = np.asarray(catalog["radius"], float) * f
    scale = stamps.pixel_scale / f if stamps.pixel_scale else None
    return StampSet(images, segmaps, catalog, pixel_scale=scale, zeropoint=stamps.zeropoint,
                    source=f"{stamps.source} (x{f})")


class _PaintCounter:
    """Counts paint events of one widget (the blend view's viewport)."""

    def __init__(self, widget) -> None:
        from PyQt6.QtCore import QEvent, QObject

        counter = self

        class Filter(QObject):
            def eventFilter(self, obj, event):  # noqa: N802 (Qt name)
                if event.type() == QEvent.Type.Paint:
                    counter.count += 1
                return False

        self.count = 0
        self.filter = Filter()
        widget.installEventFilter(self.filter)


def preview_latencies(window, n: int = 200, *, seed: int = 0) -> np.ndarray:
    """Milliseconds from an offset change to the blend view painting the new stretched frame.

    Each change moves the companion handle as a drag's release does (a final move), which sets the
    spec through :class:`~.state.AppState` and makes the editor render the exact blend; the event
    loop then runs until the blend view's viewport has painted. The pair is the window's current one.
    Between two changes the readouts that follow a frame's paint (metrics, levels histogram) are left to
    finish, untimed, as they are before a user's next nudge or drag step: each change starts from an idle
    window and times what the user waits for, the painted frame.
    """
    from PyQt6.QtWidgets import QApplication

    editor = window.editor
    if window.state.spec is None:
        raise ValueError("the window has no blend to move (no pair picked)")
    painted = _PaintCounter(editor.blend_view.viewport())
    rng = np.random.default_rng(seed)
    cx, cy = editor.centre()
    h, w = window.state.stamps.stamp_shape
    reach = 0.3 * min(h, w)
    out = np.empty(n)
    for k in range(n + 5):  # five warm-up changes
        dx, dy = (float(v) for v in np.round(rng.uniform(-reach, reach, 2), 2))
        frames0, paints0 = editor.frames, painted.count
        t0 = time.perf_counter()
        editor.handle.move_to(cx + dx, cy + dy, final=True)   # a final move renders at once
        deadline = t0 + 5.0
        while (editor.frames == frames0 or painted.count == paints0) and time.perf_counter() < deadline:
            QApplication.processEvents()
        dt = time.perf_counter() - t0
        if editor.frames == frames0 or painted.count == paints0:
            raise RuntimeError("the blend view did not paint a new frame within 5 s")
        if k >= 5:
            out[k - 5] = dt * 1e3
        settle = time.perf_counter() + 1.0
        while editor.after_paint.pending and time.perf_counter() < settle:
            QApplication.processEvents()
        for _ in range(3):                  # the readouts' own repaints (a queued scene update, then the paint)
            QApplication.processEvents()
    return out


# --------------------------------------------------------------------------- groups
def bench_preview(n: int, log: Log) -> dict[str, Any]:
    """Preview latency p50/p95 (ms) at 128 px and 512 px stamps; ``min(n, 200)`` offset changes each."""
    from PyQt6.QtCore import qInstallMessageHandler

    from ..bench import _stamps

    app = _app()
    previous = qInstallMessageHandler(None)
    qInstallMessageHandler(_quiet_offscreen(previous))
    changes = max(10, min(int(n), 200))
    out: dict[str, Any] = {}
    try:
        stamps = _stamps()
        big = upsampled_stampset(stamps.subset(np.arange(min(len(stamps), 24))), 4)
        with tempfile.TemporaryDirectory(prefix="candels-bench-") as tmp:
            for size, data in ((128, stamps), (512, big)):
                # the steady state: without the first seconds' background classification of the new data
                window = _window(data, tmp, morphology=False)
                try:
                    ms = preview_latencies(window, changes, seed=size)
                finally:
                    _close(window)
                out[f"preview_p50_ms_{size}"] = round(float(np.percentile(ms, 50)), 2)
                out[f"preview_p95_ms_{size}"] = round(float(np.percentile(ms, 95)), 2)
    finally:
        qInstallMessageHandler(previous)
    _ = app
    if log:
        log(f"preview: {out}")
    return out


def bench_export_ui(n: int, log: Log) -> dict[str, Any]:
    """Longest UI-thread stall (ms) while the app's worker exports ``n`` blends to HDF5, and blends/s."""
    from PyQt6.QtCore import QEventLoop, QTimer, qInstallMessageHandler

    from ..bench import _stamps
    from ..core.store.export import export
    from ..core.blending.sampling import SamplingRules, sample_specs

    app = _app()
    previous = qInstallMessageHandler(None)
    qInstallMessageHandler(_quiet_offscreen(previous))
    try:
        stamps = _stamps()
        specs = sample_specs(stamps, int(n), SamplingRules(), seed=42)
        with tempfile.TemporaryDirectory(prefix="candels-bench-") as tmp:
            window = _window(stamps, tmp, settle=True)   # a user exports after the window has shown its data
            try:
                ticks: list[float] = []
                reports = [0]
                outcome: dict[str, Any] = {}
                loop = QEventLoop()
                timer = QTimer()
                timer.setInterval(5)
                timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
                window.tasks.progress.connect(lambda _p: reports.__setitem__(0, reports[0] + 1))

                def done(key: str, value: Any) -> None:
                    outcome[key] = value
                    loop.quit()

                dest = Path(tmp) / "export.h5"
                # the task runner's thread workers (superqt, imported with a window's first task: ~90 ms on
                # the UI thread) are loaded when the app opens its data, before any export can start
                import superqt.utils  # noqa: F401

                timer.start()
                ticks.append(time.perf_counter())
                t0 = time.perf_counter()
                window.tasks.run_job(
                    "Exporting", lambda token: export(dest, window.state.engine, specs, fmt="hdf5",
                                                      method="bogg_masks", seed=42, cancel=token),
                    on_result=lambda r: done("result", r), on_error=lambda e: done("error", e),
                    on_cancel=lambda: done("error", RuntimeError("export cancelled")))
                if not outcome:
                    loop.exec()
                elapsed = time.perf_counter() - t0
                ticks.append(time.perf_counter())
                timer.stop()
                if "error" in outcome:
                    raise RuntimeError(f"export failed: {outcome['error']}")
            finally:
                _close(window)
    finally:
        qInstallMessageHandler(previous)
    _ = app
    gaps = np.diff(np.asarray(ticks)) * 1e3
    out = {"ui_stall_max_ms_export": round(float(gaps.max()), 1),
           "ui_stall_p99_ms_export": round(float(np.percentile(gaps, 99)), 1),
           "export_ui_blends_per_s": round(len(specs) / elapsed),
           "export_ui_progress_reports": reports[0], "export_ui_n": len(specs)}
    if log:
        log(f"export_ui: {out}")
    return out


def _startup_once() -> float:
    env = dict(os.environ)
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    # an installed app starts from compiled bytecode (pip compiles it; a first run writes it): a
    # PYTHONDONTWRITEBYTECODE environment would make every timed start compile the package's sources again
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    with tempfile.TemporaryDirectory(prefix="candels-bench-") as tmp:
        env["XDG_CONFIG_HOME"] = tmp  # fresh settings: no restored geometry or recent files
        env["CANDELS_GUI_EXIT_WHEN_SHOWN"] = "1"
        env["CANDELS_GUI_T0"] = repr(time.perf_counter())
        res = subprocess.run([sys.executable, "-m", "candels_gui.cli"], capture_output=True, text=True,
                             env=env, cwd=str(ROOT), timeout=300)
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("{")]
    if res.returncode != 0 or not lines:
        raise RuntimeError(f"the app did not report being shown (exit {res.returncode}): "
                           f"{(res.stderr or res.stdout).strip()[-400:]}")
    return float(json.loads(lines[-1])["startup_s"])


def bench_startup(n: int, log: Log) -> dict[str, Any]:
    """Command start → main window shown with its first blend (s): median of three fresh processes, after
    one untimed start (which writes any missing bytecode, as a user's first start does)."""
    _startup_once()
    runs = [_startup_once() for _ in range(3)]
    out = {"startup_s": round(statistics.median(runs), 2)}
    if log:
        log(f"startup: {out} (runs {[round(r, 2) for r in runs]})")
    return out


register("preview", bench_preview)
register("export_ui", bench_export_ui)
register("startup", bench_startup)
