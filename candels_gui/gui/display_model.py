"""Display settings as a Qt model: one object every image view listens to.

It holds a core :class:`~candels_gui.core.display.stretch.DisplaySettings` plus the mask-overlay options; the
views and the display panel bind to it ("changing the model updates the view"). A stretch or colormap
change rebuilds the lookup table; a levels change only moves the levels.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QObject, pyqtSignal

from ..core.display.stretch import (DisplaySettings, INTERVALS, STRETCHES, build_lut, display_levels)

__all__ = ["DisplayModel", "COLORMAPS", "colormap_colors"]

#: Colormaps offered in the display panel (``grey`` is built in; the others are pyqtgraph's).
COLORMAPS = ("grey", "inferno", "magma", "viridis", "cividis", "plasma", "turbo", "CET-L3", "CET-L16")


def colormap_colors(name: str, n: int = 256) -> np.ndarray | None:
    """RGB samples (n, 3) uint8 of a colormap, ``None`` for grey (the core's default ramp)."""
    if name == "grey":
        return None
    cmap = pg.colormap.get(name)
    if cmap is None:
        raise ValueError(f"unknown colormap {name!r}; expected one of {list(COLORMAPS)}")
    return np.asarray(cmap.getLookupTable(0.0, 1.0, n, alpha=False), dtype=np.uint8)


class DisplayModel(QObject):
    """Stretch, interval, colormap, levels and mask overlay shared by all views.

    Signals
    -------
    lutChanged()
        Stretch or colormap changed: views fetch :meth:`lut`.
    levelsChanged(float, float)
        The levels in force changed (manual, or automatic for a new image).
    settingsChanged()
        Any field of :attr:`settings` changed (panels resync their widgets).
    overlayChanged()
        Mask visibility, opacity or outline mode changed.
    referenceChanged()
        A new reference image (the blend) is shown; the histogram follows it.
    """

    lutChanged = pyqtSignal()
    levelsChanged = pyqtSignal(float, float)
    settingsChanged = pyqtSignal()
    overlayChanged = pyqtSignal()
    referenceChanged = pyqtSignal()

    def __init__(self, settings: DisplaySettings | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.settings = settings or DisplaySettings()
        self.mask_visible = True
        self.mask_opacity = 0.35
        self.mask_outline = True
        self.fill_visible = False  # hatch where the data were padded (fill masks)
        self._lut: np.ndarray | None = None
        self._reference: np.ndarray | None = None
        self.levels: tuple[float, float] = (0.0, 1.0)

    # ------------------------------------------------------------------ settings
    def set(self, **changes: object) -> None:
        """Change display settings (``stretch=``, ``interval=``, ``percentile=``, ``asinh_a=``,
        ``log_a=``, ``cmap=``, ``levels=``); bad values raise ``ValueError`` and change nothing."""
        if "cmap" in changes and changes["cmap"] not in COLORMAPS:
            raise ValueError(f"unknown colormap {changes['cmap']!r}; expected one of {list(COLORMAPS)}")
        new = self.settings.replace(**changes)
        if new == self.settings:
            return
        old = self.settings
        if ("interval" in changes or "percentile" in changes) and "levels" not in changes:
            new = new.replace(levels=None)  # choosing an interval means "levels from the interval"
        self.settings = new
        lut_keys = ("stretch", "asinh_a", "log_a", "cmap")
        if any(getattr(old, k) != getattr(new, k) for k in lut_keys):
            self._lut = None
            self.lutChanged.emit()
        self.settingsChanged.emit()
        self._update_levels()

    def set_levels(self, lo: float, hi: float) -> None:
        """Manual levels (from the histogram); only the levels move, the LUT stays."""
        self.set(levels=(float(lo), float(hi)))

    def auto_levels(self) -> None:
        """Forget manual levels: use the interval's levels of the reference image."""
        self.set(levels=None)

    def cycle(self, field: str) -> None:
        """Next stretch (``field="stretch"``), interval or colormap."""
        options = {"stretch": STRETCHES, "interval": INTERVALS, "cmap": COLORMAPS}[field]
        current = getattr(self.settings, field)
        nxt = options[(options.index(current) + 1) % len(options)] if current in options else options[0]
        self.set(**{field: nxt})

    # ------------------------------------------------------------------ overlay
    def set_overlay(self, *, visible: bool | None = None, opacity: float | None = None,
                    outline: bool | None = None, fill: bool | None = None) -> None:
        """Change the mask overlay options (``fill``: hatch the pixels that hold no data)."""
        changed = False
        if fill is not None and bool(fill) != self.fill_visible:
            self.fill_visible, changed = bool(fill), True
        if visible is not None and bool(visible) != self.mask_visible:
            self.mask_visible, changed = bool(visible), True
        if opacity is not None:
            if not 0.0 <= opacity <= 1.0:
                raise ValueError(f"mask opacity must be in [0, 1], got {opacity}")
            if opacity != self.mask_opacity:
                self.mask_opacity, changed = float(opacity), True
        if outline is not None and bool(outline) != self.mask_outline:
            self.mask_outline, changed = bool(outline), True
        if changed:
            self.overlayChanged.emit()

    # ------------------------------------------------------------------ levels / LUT
    def lut(self) -> np.ndarray:
        """The (4096, 4) uint8 lookup table of the current stretch and colormap (cached)."""
        if self._lut is None:
            self._lut = build_lut(self.settings.stretch_obj(), colormap_colors(self.settings.cmap))
        return self._lut

    def set_reference(self, image: np.ndarray | None, *, recompute: bool = True) -> None:
        """The image automatic levels come from (the blend).

        ``recompute=False`` keeps the levels in force (live previews during a drag do not flicker);
        the final frame recomputes them.
        """
        self._reference = image
        self.referenceChanged.emit()
        if recompute:
            self._update_levels()

    @property
    def reference(self) -> np.ndarray | None:
        """The image automatic levels come from."""
        return self._reference

    def _update_levels(self) -> None:
        if self.settings.levels is not None:
            levels = self.settings.levels
        elif self._reference is not None:
            levels = display_levels(self._reference, self.settings.interval_obj())
        else:
            return
        if levels != self.levels:
            self.levels = levels
            self.levelsChanged.emit(*levels)
