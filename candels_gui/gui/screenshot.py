"""``candels-gui screenshot``: open the main window offscreen with a blend loaded and save a picture."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["take_screenshot", "pick_showcase_spec", "VIEWS"]

#: Views the command knows.
VIEWS = ("editor", "review", "compare", "deblend", "labelling", "field")


def pick_showcase_spec(stamps, *, seed: int = 42, blendedness: tuple[float, float] = (0.04, 0.3)):
    """A pair of two bright, well-sized galaxies at an offset where their light visibly mixes.

    Candidates are galaxies with a radius between 3 % and 12 % of the stamp, brightest first; galaxy 2
    is within 1.5 mag of galaxy 1. The separation is scanned inwards from 45 % of the stamp until the
    larger blendedness (core :func:`~candels_gui.core.blending.blend_metrics.blendedness`) enters the range
    ``blendedness`` while the footprints overlap.
    """
    from ..core.blending.engine import BlendEngine, BlendSpec
    from ..core.blending.blend_metrics import blendedness as blendedness_of
    from ..core.blending.blend_metrics import overlap_fraction

    engine = BlendEngine(stamps)
    size = min(stamps.stamp_shape)
    mags = np.asarray(stamps.catalog["mag"], float)
    radii = np.asarray(stamps.catalog["radius"], float)
    ok = np.flatnonzero((radii > 0.03 * size) & (radii < 0.12 * size) & np.isfinite(mags))
    if ok.size < 2:
        ok = np.arange(len(stamps))
    order = ok[np.argsort(mags[ok], kind="stable")]
    ids = stamps.ids
    angle = np.radians(35.0)
    fallback = None
    for i1 in order[:8]:
        for i2 in order[:16]:
            if i2 == i1 or abs(mags[i2] - mags[i1]) > 1.5:
                continue
            for sep in np.linspace(0.45 * size, max(radii[i1], radii[i2]), 32):
                spec = BlendSpec(int(ids[i1]), int(ids[i2]), dx=round(sep * np.cos(angle), 2),
                                 dy=round(sep * np.sin(angle), 2), rotation=30.0, seed=seed)
                blend = engine.render(spec)
                if overlap_fraction(blend.masks) <= 0:
                    continue
                fallback = fallback or spec
                b = float(blendedness_of(blend.isolated, masks=blend.masks).max())
                if blendedness[0] <= b <= blendedness[1]:
                    return spec
    if fallback is None:
        raise ValueError(f"no pair of galaxies in {stamps.source or 'the data'} overlaps at any offset")
    return fallback


def take_screenshot(output: str | os.PathLike, *, view: str = "editor", data: str | os.PathLike | None = None,
                    size: tuple[int, int] = (1600, 1000), fill: bool = False,
                    field: str | os.PathLike | None = None) -> Path:
    """Open the app (offscreen when there is no display), load ``data``, show a blend, save a PNG.

    Parameters
    ----------
    output : path
        PNG file to write (folders are created).
    view : {"editor", "review", "compare", "deblend", "labelling", "field"}
        Which part of the app to show: the blend editor, review mode on a queue of 12 blends, the
        Compare view (photutils, SEP and the torch models that have weights) on a queue of 20 blends
        with its dataset summary, the Deblend tab (photutils, SEP, unet-seg, unet-deblend) on the blend,
        labelling mode (``labelling``), or the Field tab (``field``: the bundled mock field, or ``field``)
        zoomed on its centre with the sources detected there.
    data : path, optional
        Data to open (default: the bundled sample data).
    size : (int, int)
        Window size in pixels.
    fill : bool
        Hatch the padded pixels (where the stamps hold no data: the data's fill masks).
    field : path, optional
        The FITS field the ``field`` view shows (default: ``sample_data/field/mock_field.fits``).

    Returns
    -------
    Path
        ``output``.
    """
    if view not in VIEWS:
        raise ValueError(f"unknown view {view!r}; expected one of {list(VIEWS)}")
    if view == "field" and field is not None:
        from .field_view import read_shown_field

        read_shown_field(Path(field))   # in the app an unreadable field is a dialog: nobody answers it here
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) or sys.platform == "linux" \
            and "QT_QPA_PLATFORM" not in os.environ and not os.environ.get("DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from PyQt6.QtCore import QSettings, qInstallMessageHandler
    from PyQt6.QtWidgets import QApplication

    from ..core.jobs import run_job
    from ..core.data.stampset import StampSet
    from ..core.store.open_data import iter_open_data
    from ..paths import sample_data_dir
    from .app import MAX_EXPORT_BLENDS, MainWindow
    from .launch import make_app

    from .morphology_ctl import AUTO_ENV

    if view != "labelling":   # the other pictures are not about morphology: no background work in them
        os.environ[AUTO_ENV] = "0"
    data_path = Path(data) if data is not None else sample_data_dir()
    opened = run_job(iter_open_data(data_path, limit=MAX_EXPORT_BLENDS))   # stamp data, or an export's blends
    stamps = opened if isinstance(opened, StampSet) else opened.stamps
    spec = opened.specs[0] if not isinstance(opened, StampSet) and opened.specs else pick_showcase_spec(stamps)
    previous = qInstallMessageHandler(_quiet_offscreen)
    app = make_app()
    with tempfile.TemporaryDirectory() as tmp:  # never touch the user's settings
        settings = QSettings(str(Path(tmp) / "screenshot.ini"), QSettings.Format.IniFormat)
        window = MainWindow(None, settings=settings)
        window.session_ctl.autosave_dir = Path(tmp) / "autosave"  # nor the user's autosave folder
        window.use_data(data_path, opened, random_pair=False)   # as the app opens it
        window.resize(*size)
        window.show()
        QApplication.processEvents()
        window.state.set_spec(spec)
        window.catalog.select_stamp(stamps.index_of(spec.id1))
        window.display.set_overlay(fill=fill)
        if view == "review":
            _fill_review_queue(window, stamps, spec)
        elif view == "compare":
            _show_compare(window, stamps, spec)
        elif view == "deblend":
            _show_deblend(window)
        elif view == "labelling":
            _show_labelling(window, stamps)
        elif view == "field":
            _show_field(window, Path(field) if field else sample_data_dir() / "field" / "mock_field.fits")
        window.editor.flush()
        for _ in range(3):
            QApplication.processEvents()
        window.editor.fit()
        QApplication.processEvents()
        cx, cy = window.editor.centre()
        window._hovered("blend", cx + 2.0, cy + 1.0,
                        float(window.editor.last_blend.image[int(cy) + 1, int(cx) + 2]))
        QApplication.processEvents()
        out = Path(output)
        out.parent.mkdir(parents=True, exist_ok=True)
        got = (window.width(), window.height())
        if got != tuple(size):
            import warnings

            from ..core.errors import DataWarning

            warnings.warn(DataWarning(f"--size {size[0]}x{size[1]}: the window's panels need at least "
                                      f"{window.minimumSizeHint().width()}x{window.minimumSizeHint().height()}; "
                                      f"the picture is {got[0]}x{got[1]}"))
        if not window.grab().save(str(out)):
            raise OSError(f"could not write the picture {out}")
        window.session_ctl.session.mark_saved()  # a picture, not work: close without asking
        window.close()
        QApplication.processEvents()
        settings.sync()
    qInstallMessageHandler(previous)
    _ = app
    return out


def _fill_review_queue(window, stamps, spec) -> None:
    """Review mode on a queue of 12 blends of mixed statuses, the showcase blend (row 6) selected."""
    from PyQt6.QtCore import Qt

    session = window.session_ctl.session
    session.add_random(stamps, 5)
    session.add_specs([spec])
    session.add_random(stamps, 6)
    for rows, status in (([0, 2, 3], "accepted"), ([1, 8], "rejected"), ([4], "flagged")):
        session.set_status(rows, status)
    session.set_note(1, "companion off the stamp edge")
    session.set_note(4, "neighbour not cleaned?")
    session.set_note(3, "nice overlap")
    window.review.set_active(True)
    window.queue_panel.select_row(5)
    window.resizeDocks([window.queue_dock], [560], Qt.Orientation.Horizontal)


def _show_compare(window, stamps, spec, *, timeout_s: float = 600.0) -> None:
    """The Compare view on the showcase blend (row 10 of a queue of 20) with the queue's summary; on an export
    (its blends already queued), on its first blend, with the summary of its blends."""
    import time

    from PyQt6.QtCore import Qt
    from PyQt6.QtWidgets import QApplication

    session = window.session_ctl.session
    row = 0
    if not len(session.queue):
        session.add_random(stamps, 9)
        session.add_specs([spec])
        session.add_random(stamps, 10)
        row = 9
    panel = window.deblend_panel
    panel.set_selected([n for n, box in panel.checks.items()
                        if n in ("photutils", "sep", "scarlet") or (n in panel.weights and box.isEnabled())])
    for name in ("catalog_dock", "display_dock"):
        getattr(window, name).hide()
    window.queue_panel.select_row(row)
    window.compare.activate()
    window.compare.run_summary()
    view, wanted = window.compare, panel.selected()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and (view.summary is None or window.tasks.busy
                                           or view.grid.names != wanted):
        QApplication.processEvents()
        time.sleep(0.01)
    if view.summary is None or view.grid.names != wanted:
        raise RuntimeError(f"the comparison summary did not finish in {timeout_s:g} s")
    window.resizeDocks([window.queue_dock], [380], Qt.Orientation.Horizontal)


def _show_deblend(window, *, timeout_s: float = 600.0) -> None:
    """The Deblend tab with photutils, SEP and the torch models that have weights run on the showcase blend."""
    import time

    from PyQt6.QtWidgets import QApplication

    panel = window.deblend_panel
    panel.set_selected([n for n, box in panel.checks.items()
                        if n in ("photutils", "sep") or (n in panel.weights and box.isEnabled()
                                                         and n in ("unet-seg", "unet-deblend"))])
    window.run_deblenders()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and panel.busy:
        QApplication.processEvents()
        time.sleep(0.01)
    if panel.busy:
        raise RuntimeError(f"the deblenders did not finish in {timeout_s:g} s")


def _show_labelling(window, stamps, *, timeout_s: float = 900.0) -> None:
    """Labelling mode after the classifier and statmorph ran, a few votes cast, the Morphology tab shown."""
    import time

    from PyQt6.QtWidgets import QApplication

    window.morphology.classify()
    window.morphology.measure()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and window.tasks.busy:
        QApplication.processEvents()
        time.sleep(0.02)
    view = window.labelling
    view.labeller.setText("ana")
    window.catalog.table.selectRow(0)
    window.actions_by_name["labelling_mode"].trigger()
    for cls in ("disk", "irr", "sphd", "disk"):
        view.vote(cls)
    window.right_tabs.setCurrentWidget(window.morphology_panel)
    for _ in range(5):
        QApplication.processEvents()
        time.sleep(0.02)
    view.refresh()
def _show_field(window, path: Path, *, timeout_s: float = 600.0) -> None:
    """The Field tab on ``path``: its pyramid built, zoomed on the centre (a quarter of the field, at most 1500
    px across), the sources there detected and the brightest selected."""
    import time

    import numpy as np
    from PyQt6.QtWidgets import QApplication

    view = window.field_view
    window.central_tabs.setCurrentWidget(view)
    view.open_field(path)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and window.tasks.busy:
        QApplication.processEvents()
        time.sleep(0.01)
    h, w = view.field.shape
    side = min(1500, max(h, w) // 2)
    view.vb.setRange(xRange=(w / 2 - side / 2, w / 2 + side / 2), yRange=(h / 2 - side / 2, h / 2 + side / 2),
                     padding=0)
    view.refresh()
    view.detect_in_view()
    while time.monotonic() < deadline and (window.tasks.busy or view.detections is None):
        QApplication.processEvents()
        time.sleep(0.01)
    cat = view.detections
    if cat is not None and len(cat):
        i = int(np.nanargmin(np.asarray(cat["mag"], float)))
        view.select_at(float(cat["x"][i]), float(cat["y"][i]))
    QApplication.processEvents()


def _quiet_offscreen(mode, context, message: str) -> None:
    """Drop the offscreen plugin's "cannot resize a native window" notes; print everything else."""
    if "propagateSizeHints" not in message:
        print(message, file=sys.stderr)
